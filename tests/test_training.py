import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from storage import runs as run_rows
from storage.db import open_db
from studio.config import REPO_ROOT
from studio.errors import StudioError
from studio.training.config import TrainConfig
from studio.training.trainer import train
from tests.tiny_models import build_tiny_decoder, build_tiny_encoder
from tests.training_data import add_accepted_examples


# The CPU is shared: tiny models run faster on one thread than fighting for two.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def decoder_dir(tmp_path_factory):
    return build_tiny_decoder(tmp_path_factory.mktemp("decoder"))


def _config(base, out, **overrides) -> TrainConfig:
    values = dict(base_model=str(base), out_dir=str(out), lora=True, batch_size=8, mini_batch=3, max_steps=4,
                  lr=1e-3, checkpoint_every=2, seed=7)
    values.update(overrides)
    return TrainConfig(**values)


def _losses(db_path, run_id):
    return [row["loss"] for row in run_rows.metrics(open_db(db_path), run_id)]


def test_training_writes_metrics_heldout_ids_and_a_sentence_transformers_folder(db_path, tmp_path, decoder_dir):
    from peft import PeftModel
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel

    from studio.embedding import load_model
    from studio.embedding.model import EmbeddingModel, load_backbone

    ids = add_accepted_examples(db_path, 40)
    out = tmp_path / "run"
    summary = train(_config(decoder_dir, out), db_path)
    db = open_db(db_path)
    run = run_rows.get_run(db, summary["run_id"])
    assert run["state"] == "done"
    assert len(run["config"]["heldout_ids"]) == 4 and set(run["config"]["heldout_ids"]) <= set(ids)
    assert run["data_counts"]["train"] == 36
    metrics = run_rows.metrics(db, run["id"])
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    assert all(m["loss"] > 0 and m["lr"] > 0 and m["examples_per_s"] > 0 and m["tokens_per_s"] > 0 for m in metrics)
    assert metrics[-1]["lr"] < metrics[0]["lr"]  # linear decay after warm-up

    assert json.loads((out / "1_Pooling" / "config.json").read_text())["pooling_mode_lasttoken"] is True
    assert "Instruct: " in json.loads((out / "config_sentence_transformers.json").read_text())["prompts"]["query"]
    card = (out / "README.md").read_text()
    assert "training examples: 36" in card and "temperature" in card

    texts = ["what about cats number 3", "a document explaining bees in detail, part 2 with more words"]
    ours = load_model(str(out), device="cpu")
    assert ours.pooling == "last"
    theirs = SentenceTransformer(str(out), device="cpu")
    cosine = np.sum(ours.encode_documents(texts) * theirs.encode(texts), axis=1)
    assert cosine.min() >= 0.9999
    # The exported merged weights equal the base model with the saved LoRA adapter applied.
    backbone, tokenizer, _, _ = load_backbone(str(decoder_dir))
    adapted = EmbeddingModel(PeftModel.from_pretrained(backbone, str(out / "lora_adapter")), tokenizer, "last", 512)
    cosine = np.sum(adapted.encode_documents(texts) * theirs.encode(texts), axis=1)
    assert cosine.min() >= 0.9999
    # Training moved the weights away from the base model.
    base = EmbeddingModel(AutoModel.from_pretrained(str(decoder_dir)), tokenizer, "last", 512)
    assert np.sum(base.encode_documents(texts) * theirs.encode(texts), axis=1).min() < 0.9999


def _wait(predicate, timeout=90.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def test_two_processes_give_the_single_process_loss(db_path, tmp_path, decoder_dir):
    add_accepted_examples(db_path, 40)
    # Same settings as the single-process run below.
    common = ["--base-model", str(decoder_dir), "--lora", "--batch-size", "8", "--max-steps", "2", "--lr", "1e-2",
              "--seed", "3", "--heldout-share", "0", "--db", str(db_path)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **ONE_THREAD}
    single = train(_config(decoder_dir, tmp_path / "one", mini_batch=None, max_steps=2, lr=1e-2, seed=3,
                           heldout_share=0.0), db_path)
    double = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_port", str(_free_port()), "-m", "studio", "train",
                             "--out", str(tmp_path / "two"), *common],
                            env=env, capture_output=True, text=True, timeout=180)
    assert double.returncode == 0, double.stderr[-3000:]
    db = open_db(db_path)
    one = run_rows.get_run(db, single["run_id"])
    two = run_rows.list_runs(db)[0]
    assert two["config"]["world_size"] == 2 and one["config"]["world_size"] == 1
    # Step 1 checks the loss; step 2 checks that the summed gradients gave the same update.
    np.testing.assert_allclose(_losses(db_path, two["id"]), _losses(db_path, one["id"]), rtol=1e-5, atol=1e-5)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_train_command_explains_bad_input(db_path, tmp_path, capsys):
    from studio.cli import main

    assert main(["train", "--base-model", "minilm", "--out", str(tmp_path / "x"), "--db", str(db_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "accepted examples" in error and "\n" not in error
    assert main(["train", "--resume", "--out", str(tmp_path / "none"), "--db", str(db_path)]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "y"), "--db", str(db_path)]) == 2
    assert "--base-model" in capsys.readouterr().err
    assert main(["train", "--base-model", "minilm", "--out", str(tmp_path / "z"), "--temperature", "0",
                 "--db", str(db_path)]) == 2
    assert "temperature" in capsys.readouterr().err


def test_minilm_trains_with_mean_pooling_full_fine_tuning(db_path, tmp_path):
    add_accepted_examples(db_path, 20)
    summary = train(TrainConfig(base_model="minilm", out_dir=str(tmp_path / "minilm"), batch_size=8, max_steps=2,
                                lr=5e-5, heldout_share=0.0), db_path)
    assert summary["state"] == "done"
    pooling = json.loads((tmp_path / "minilm" / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] is True
    assert json.loads((tmp_path / "minilm" / "sentence_bert_config.json").read_text())["max_seq_length"] == 256


def test_a_run_whose_process_died_is_marked_interrupted_and_resumable(db_path, tmp_path):
    from storage import jobs as job_rows
    from studio.training import launcher

    db = open_db(db_path)
    job_id = job_rows.create_job(db, "train", {})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    job_rows.mark_started(db, job_id, dead.pid, "0")
    (tmp_path / "gone" / "checkpoint").mkdir(parents=True)
    run_id = run_rows.create_run(db, job_id, "gone", "minilm", {}, str(tmp_path / "gone"), {})
    assert launcher.active_training_job(db_path) is None
    assert job_rows.get_job(db, job_id)["state"] == "interrupted"
    assert run_rows.get_run(db, run_id)["state"] == "interrupted"
    with pytest.raises(StudioError, match="no checkpoint"):
        launcher.resume_training(db_path, run_id)


def test_too_few_examples_to_train_is_said_in_the_singular(db_path, tmp_path):
    from studio.training.launcher import start_training

    add_accepted_examples(db_path, 1)
    with pytest.raises(StudioError, match="only 1 accepted example matches for training"):
        start_training(db_path, TrainConfig(base_model="minilm", out_dir=str(tmp_path / "out"), heldout_share=0.0))
