"""Mining hard negatives from a corpus with minilm: `mine --corpus`'s own path, end to end.

    python benchmarks/corpus_mining.py [--passages 100000] [--queries 10000] [--words 200]

Imports a synthetic corpus (benchmarks/corpus_import.py's documents, one passage each at the
default chunk size of 200 words), stores `--queries` examples whose positives are passages and
whose queries are 8 words of them, then runs the corpus mining job (window 10:50, ratio 0.95).
The passages' vectors are encoded once and cached on disk (a second run over the same corpus
reads them back); the time is split into encoding the passages and the rest (linking, encoding
the queries, exact search, writing the negatives).
Last line: `corpus mining: Q queries over P passages in X min (passages Y min, queries and writes Z min)`.
"""

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus_import import write_corpus  # noqa: E402
from storage import corpora  # noqa: E402
from storage.db import open_db  # noqa: E402
from storage.examples import insert_examples  # noqa: E402
from studio.corpus.importer import add_corpus  # noqa: E402
from studio.corpus.mining import CorpusMiningSettings, run_corpus_mining_job, summary  # noqa: E402


class TimedJob:
    """The job context the mining code reports to, noting when the passages are encoded."""

    def __init__(self, db):
        self.db, self.job_id = db, 0
        self.started = time.perf_counter()
        self.passages_done_at = None

    def progress(self, done, total, message=None, stats=None):
        if message and message.startswith("encoding passages"):
            done_, total_ = (int(x) for x in message.split()[-1].split("/"))
            if done_ == total_:
                self.passages_done_at = time.perf_counter()
            if done_ % 8192 < 512 or done_ == total_:
                print(f"  {message} ({time.perf_counter() - self.started:.0f} s)", flush=True)

    def cancel_requested(self):
        return False

    def finish(self, stats=None, message=None):
        pass

    fail = cancelled = finish


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--words", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        import os

        os.environ["STUDIO_DATA_DIR"] = folder   # the embedding cache goes there too
        folder = Path(folder)
        write_corpus(folder / "corpus.jsonl", args.passages, args.words)
        db = open_db(folder / "studio.db")
        add_corpus(db, folder / "corpus.jsonl", name="bench")
        passages = corpora.passages_of(db, corpora.corpus_by_name(db, "bench")["id"])
        rng = random.Random(1)
        rows = []
        for passage in rng.sample(passages, args.queries):
            words = passage["text"].split()
            start = rng.randrange(len(words) - 8)
            rows.append({"family": "short-long", "language": "English", "instruction": "Find the passage",
                         "query": " ".join(words[start:start + 8]), "positive": passage["text"], "negative": None})
        insert_examples(db, rows, background=False)
        print(f"corpus of {len(passages)} passages and {args.queries} examples ready", flush=True)
        job = TimedJob(db)
        stats = run_corpus_mining_job(job, CorpusMiningSettings(corpus="bench"))
        ended = time.perf_counter()
        print(summary(stats))
        total = (ended - job.started) / 60
        encoding = ((job.passages_done_at or job.started) - job.started) / 60
        print(f"corpus mining: {args.queries} queries over {len(passages)} passages in {total:.1f} min "
              f"(passages {encoding:.1f} min, queries and writes {total - encoding:.1f} min)")


if __name__ == "__main__":
    main()
