"""Mining hard negatives from a corpus with minilm: `mine --corpus`'s own path, end to end, in fp32 and bf16.

    python benchmarks/corpus_mining.py [--passages 100000] [--queries 10000] [--words 200] [--rounds 3]
    python benchmarks/corpus_mining.py --only bf16 [--passages 100000] [--queries 10000]

Imports a synthetic corpus (benchmarks/corpus_import.py's documents, one passage each at the
default chunk size of 200 words), stores `--queries` examples whose positives are passages and
whose queries are 8 words of them, then runs the corpus mining job (window 10:50, ratio 0.95) on
the same store with the passages encoded in fp32 and in bf16 autocast (the default on a CPU with
native bf16, studio.embedding.precision), once each per round, the order alternating between
rounds (the machine's load drifts), each run's negatives undone after it so that every run mines
the same examples. Each run encodes the passages afresh; its time is split into encoding the
passages and the rest (linking, encoding the queries, exact search, writing the negatives). Also
printed: how close the passage vectors of the two precisions are (cosine of each passage's pair)
and how many examples got the same negative.
Last line: `corpus mining bf16 vs fp32: R× faster, median of N round(s) (...); passages alone R2× (...)`.

With `--only PRECISION`, one run in that precision (the full size takes most of an hour on 2 cores),
then the same mining again with the passages' vectors cached, as every later mining, check and
evaluation of that corpus with that model finds them. Last line: `corpus mining (P): Q queries over
N passages in T min (passages E min); again with the passages cached T2 min`.
"""

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks.corpus_import import write_corpus  # noqa: E402
from storage import corpora, curation  # noqa: E402
from storage.db import open_db  # noqa: E402
from storage.examples import insert_examples  # noqa: E402
from studio.corpus.importer import add_corpus  # noqa: E402
from studio.corpus.index import fingerprint  # noqa: E402
from studio.corpus.mining import CorpusMiningSettings, run_corpus_mining_job, summary  # noqa: E402
from studio.embedding.precision import cpu_has_bf16  # noqa: E402
from studio.evaluation.embedding_cache import cache_path, model_key  # noqa: E402
from studio.jobs import JobContext  # noqa: E402


class TimedJob(JobContext):
    """The mining job's context (a real job row), noting when the passages are encoded."""

    def __init__(self, db, job_id):
        super().__init__(db, job_id)
        self.started = time.perf_counter()
        self.passages_done_at = None

    def progress(self, done, total, message=None, stats=None):
        super().progress(done, total, message, stats)
        if message and message.startswith("encoding passages"):
            done_, total_ = (int(x) for x in message.split()[-1].split("/"))
            if done_ == total_:
                self.passages_done_at = time.perf_counter()
            if done_ % 8192 < 512 or done_ == total_:
                print(f"  {message} ({time.perf_counter() - self.started:.0f} s)", flush=True)


def mine(db_path, precision: str) -> tuple[dict, float, float]:
    """One mining run: (stats, total minutes, minutes encoding the passages)."""
    settings = CorpusMiningSettings(corpus="bench", precision=precision)
    job = TimedJob.create(db_path, "mining", settings.as_args())
    stats = run_corpus_mining_job(job, settings)
    ended = time.perf_counter()
    print(summary(stats))
    total = (ended - job.started) / 60
    encoding = ((job.passages_done_at or job.started) - job.started) / 60
    return stats, total, encoding


def negatives(db) -> dict[int, str | None]:
    return {row[0]: row[1] for row in db.execute("SELECT id, negative FROM examples ORDER BY id")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--words", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="fp32 and bf16 runs each, in alternating order")
    parser.add_argument("--only", choices=("fp32", "bf16"), default=None,
                        help="one run in this precision, then one with the passages cached (no comparison)")
    args = parser.parse_args()
    print(f"this CPU computes bf16 natively: {'yes' if cpu_has_bf16() else 'no (bf16 is emulated, expect it slower)'}")
    with tempfile.TemporaryDirectory() as folder:
        import os

        os.environ["STUDIO_DATA_DIR"] = folder   # the embedding cache goes there too
        folder = Path(folder)
        write_corpus(folder / "corpus.jsonl", args.passages, args.words)
        db = open_db(folder / "studio.db")
        add_corpus(db, folder / "corpus.jsonl", name="bench")
        corpus = corpora.corpus_by_name(db, "bench")
        passages = corpora.passages_of(db, corpus["id"])
        rng = random.Random(1)
        rows = []
        for passage in rng.sample(passages, args.queries):
            words = passage["text"].split()
            start = rng.randrange(len(words) - 8)
            rows.append({"family": "short-long", "language": "English", "instruction": "Find the passage",
                         "query": " ".join(words[start:start + 8]), "positive": passage["text"], "negative": None})
        insert_examples(db, rows, background=False)
        print(f"corpus of {len(passages)} passages and {args.queries} examples ready", flush=True)
        key = warmed_model_key([passage["text"] for passage in passages])
        if args.only:
            return mine_once_then_cached(db, folder / "studio.db", args.only, args.queries, len(passages))
        rounds: list[dict[str, tuple[float, float]]] = []
        mined_by: dict[str, dict] = {}
        for round_ in range(args.rounds):
            order = ("fp32", "bf16") if round_ % 2 == 0 else ("bf16", "fp32")   # alternate against drifting load
            times = {}
            for precision in order:
                print(f"[round {round_ + 1}, {precision}]", flush=True)
                cache_path(key, fingerprint(corpus, precision)).unlink(missing_ok=True)   # encode afresh
                _, total, encoding = mine(folder / "studio.db", precision)
                times[precision] = (total, encoding)
                mined_by[precision] = negatives(db)
                print(f"corpus mining ({precision}): {args.queries} queries over {len(passages)} passages in "
                      f"{total:.1f} min (passages {encoding:.1f} min, queries and writes {total - encoding:.1f} min)",
                      flush=True)
                curation.undo_last(db, who="benchmark")   # the next run mines the same examples again
            rounds.append(times)
        fp32, bf16 = (np.load(cache_path(key, fingerprint(corpus, p))) for p in ("fp32", "bf16"))
        cosines = np.sum(fp32 * bf16, axis=1)
        same = sum(a == b for a, b in zip(mined_by["fp32"].values(), mined_by["bf16"].values()) if a is not None)
        mined = sum(a is not None for a in mined_by["fp32"].values())
        print(f"passage vectors, bf16 against fp32: cosine mean {cosines.mean():.5f}, min {cosines.min():.5f}; "
              f"same negative for {same} of the {mined} examples fp32 gave one (each is drawn at random from "
              "the candidates under the ratio, so any change among them changes the draw)")
        totals = [times["fp32"][0] / times["bf16"][0] for times in rounds]
        encodings = [times["fp32"][1] / max(times["bf16"][1], 1e-9) for times in rounds]
        print(f"corpus mining bf16 vs fp32: {statistics.median(totals):.2f}× faster, median of {len(rounds)} round(s) "
              f"({', '.join(f'{ratio:.2f}' for ratio in totals)}); passages alone "
              f"{statistics.median(encodings):.2f}× ({', '.join(f'{ratio:.2f}' for ratio in encodings)})")


def mine_once_then_cached(db, db_path: Path, precision: str, queries: int, passages: int) -> None:
    print(f"[{precision}, the passages encoded afresh]", flush=True)
    _, total, encoding = mine(db_path, precision)
    curation.undo_last(db, who="benchmark")   # the second run mines the same examples again
    print(f"[{precision}, the passages' vectors cached]", flush=True)
    _, again, _ = mine(db_path, precision)
    print(f"corpus mining ({precision}): {queries} queries over {passages} passages in {total:.1f} min "
          f"(passages {encoding:.1f} min); again with the passages cached {again:.1f} min")


def warmed_model_key(texts: list[str]) -> str:
    """minilm's cache key, after loading it and encoding a batch in each precision, so that neither
    timed run pays for loading the model or preparing its kernels."""
    from studio.evaluation.runner import loaded_model

    model = loaded_model("minilm")
    for precision in ("fp32", "bf16"):
        model.encode_documents(texts[:64], precision=precision)
    return model_key("minilm", model.pooling, model.max_length)


if __name__ == "__main__":
    main()
