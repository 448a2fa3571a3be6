"""The precision a corpus is encoded in for mining and the checks: bf16 only where the hardware has it,
each precision cached under its own name, and evaluation's encoding unchanged (fp32 on a CPU)."""

import numpy as np
import pytest

from storage import corpora
from storage.db import open_db
from storage.examples import insert_examples
from studio.corpus import index as corpus_index
from studio.corpus.checks import CheckSettings
from studio.corpus.importer import add_corpus
from studio.corpus.mining import CorpusMiningSettings, run_corpus_mining_job
from studio.embedding import precision
from studio.errors import StudioError
from studio.evaluation import embedding_cache
from studio.evaluation.runner import loaded_model
from studio.jobs import JobContext
from tests.corpus_files import write_beir_corpus
from tests.tiny_models import build_tiny_encoder

TEXTS = ["volcano eruption sends lava and ash over the village while magma rises under the crater",
         "chess opening strategy controls the centre with pawns and develops knights before bishops",
         "sourdough bread baking needs a lively starter long fermentation and a very hot oven",
         "jazz saxophone solo improvises over chord changes with swing rhythm and blue notes",
         "coral reef bleaching happens when warm water makes corals expel their colourful algae",
         "honey bee colony has one queen thousands of workers and drones that live in the hive"]


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    return str(build_tiny_encoder(tmp_path_factory.mktemp("models") / "tiny-bert"))


@pytest.fixture
def corpus_db(db_path, tmp_path):
    db = open_db(db_path)
    add_corpus(db, write_beir_corpus(tmp_path / "corpus.jsonl", [(f"d{i}", "", text) for i, text in enumerate(TEXTS)]),
               name="topics")
    rows = [{"family": "short-long", "language": "English", "instruction": "Find the passage",
             "query": " ".join(text.split()[:3]), "positive": text, "negative": None} for text in TEXTS]
    insert_examples(db, rows)
    return db, corpora.corpus_by_name(db, "topics")


def test_native_bf16_is_read_from_the_cpus_flags(tmp_path):
    def cpuinfo(flags):
        path = tmp_path / "cpuinfo"
        path.write_text(f"processor\t: 0\nmodel name\t: a CPU\nflags\t\t: fpu sse2 {flags}\n\nprocessor\t: 1\n")
        return path

    assert precision.cpu_has_bf16(cpuinfo("avx2 avx512f avx512_bf16 avx512_vnni"))
    assert precision.cpu_has_bf16(cpuinfo("avx2 amx_tile amx_bf16 amx_int8"))
    assert not precision.cpu_has_bf16(cpuinfo("avx2 avx512f avx512bw avx512_vnni"))   # AVX-512 without BF16
    assert not precision.cpu_has_bf16(tmp_path / "no-such-file")                     # not Linux: fp32


def test_auto_is_bf16_on_cuda_and_on_a_cpu_with_native_bf16_only():
    assert precision.corpus_precision("auto", "cuda", cpu_bf16=False) == "bf16"
    assert precision.corpus_precision("auto", "cpu", cpu_bf16=True) == "bf16"
    assert precision.corpus_precision("auto", "cpu", cpu_bf16=False) == "fp32"
    assert precision.corpus_precision("auto", "mps", cpu_bf16=True) == "fp32"
    assert precision.corpus_precision("fp32", "cuda") == "fp32"
    assert precision.corpus_precision("bf16", "cpu", cpu_bf16=False) == "bf16"   # asked for: emulated, but done


def test_an_unknown_precision_is_refused_in_one_sentence(tiny_encoder):
    with pytest.raises(StudioError, match="unknown precision 'fp16'"):
        CorpusMiningSettings(corpus="topics", precision="fp16").check()
    with pytest.raises(StudioError, match="unknown precision 'fp16'"):
        CheckSettings(corpus="topics", precision="fp16").check()
    with pytest.raises(StudioError, match="unknown precision"):
        loaded_model(tiny_encoder).encode(["a text"], precision="half")


def test_bf16_is_close_to_fp32_and_evaluations_encoding_stays_fp32_on_a_cpu(tiny_encoder):
    model = loaded_model(tiny_encoder)
    assert model.device.type == "cpu"
    default = model.encode_documents(TEXTS)           # what evaluation calls
    fp32 = model.encode_documents(TEXTS, precision="fp32")
    bf16 = model.encode_documents(TEXTS, precision="bf16")
    np.testing.assert_array_equal(default, fp32)
    assert not np.array_equal(bf16, fp32)             # it really ran in bf16
    assert bf16.dtype == np.float32
    assert np.sum(bf16 * fp32, axis=1).min() > 0.99   # both normalised: the cosine of each pair


class RecordingModel:
    """A real model that records the precision of each call to encode documents."""

    def __init__(self, model):
        self.model, self.calls = model, []
        self.pooling, self.max_length = model.pooling, model.max_length

    def encode_documents(self, texts, batch_size=32, precision=None):
        self.calls.append((len(texts), precision))
        return self.model.encode_documents(texts, batch_size=batch_size, precision=precision)


def test_corpus_vectors_are_cached_under_their_precision(corpus_db, tiny_encoder):
    db, corpus = corpus_db
    model = RecordingModel(loaded_model(tiny_encoder))
    fp32 = corpus_index.load_index(db, corpus, model, tiny_encoder, precision="fp32")
    bf16 = corpus_index.load_index(db, corpus, model, tiny_encoder, precision="bf16")
    again = corpus_index.load_index(db, corpus, model, tiny_encoder, precision="bf16")
    assert model.calls == [(len(TEXTS), "fp32"), (len(TEXTS), "bf16")]   # the third read the bf16 file
    np.testing.assert_array_equal(again.vectors, bf16.vectors)
    assert not np.array_equal(fp32.vectors, bf16.vectors)
    key = embedding_cache.model_key(tiny_encoder, model.pooling, model.max_length)
    names = {corpus_index.fingerprint(corpus, "fp32"), corpus_index.fingerprint(corpus, "bf16")}
    assert len(names) == 2
    assert all(embedding_cache.cache_path(key, name).exists() for name in names)
    assert corpus_index.fingerprint(corpus) == corpus_index.fingerprint(corpus, "fp32")   # fp32 files stay valid


class RecordingJob(JobContext):
    """A job that keeps every progress message it was given."""

    def __init__(self, db, job_id):
        super().__init__(db, job_id)
        self.messages = []

    def progress(self, done, total, message=None, stats=None):
        self.messages.append(message)
        super().progress(done, total, message, stats)


@pytest.mark.parametrize("choice, native, expected", [("auto", True, "bf16"), ("auto", False, "fp32"),
                                                      ("fp32", True, "fp32")])
def test_a_mining_job_encodes_the_corpus_in_the_precision_chosen(corpus_db, db_path, tiny_encoder, monkeypatch,
                                                                 choice, native, expected):
    db, corpus = corpus_db
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: native)
    job = RecordingJob.create(db_path, "mining", {})
    settings = CorpusMiningSettings(corpus="topics", model=tiny_encoder, rank_from=1, rank_to=3, precision=choice)
    run_corpus_mining_job(job, settings)
    model = loaded_model(tiny_encoder)
    key = embedding_cache.model_key(tiny_encoder, model.pooling, model.max_length)
    other = "fp32" if expected == "bf16" else "bf16"
    assert embedding_cache.cache_path(key, corpus_index.fingerprint(corpus, expected)).exists()
    assert not embedding_cache.cache_path(key, corpus_index.fingerprint(corpus, other)).exists()
    assert any(m and m.startswith(f"encoding passages in {expected} ") for m in job.messages)
