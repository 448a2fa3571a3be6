"""Importing a corpus: read, chunk, store and index for search, end to end through `corpus add`'s path.

    python benchmarks/corpus_import.py [--documents 50000] [--words 300]

Writes a BEIR corpus.jsonl of synthetic documents (words drawn from a 20,000-word vocabulary with
a Zipf-like skew, so the search index has a realistic number of distinct terms), then times
studio.corpus.importer.add_corpus into a fresh store with the default chunking (200 words, 40 of
overlap): 300-word documents give two passages each, so the defaults make 100,000 passages.
Last line: `corpus import: N passages in X s (Y passages/s)`; the target is under 60 s.
"""

import argparse
import itertools
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.db import open_db  # noqa: E402
from studio.corpus.importer import add_corpus  # noqa: E402


def vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(size)]


def write_corpus(path: Path, documents: int, words: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    vocab = vocabulary(rng)
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(vocab))))
    with path.open("w", encoding="utf-8") as out:
        for number in range(documents):
            text = " ".join(rng.choices(vocab, cum_weights=cumulative, k=words))
            title = " ".join(rng.choices(vocab, cum_weights=cumulative, k=4))
            out.write(json.dumps({"_id": f"doc{number}", "title": title, "text": text}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=50_000)
    parser.add_argument("--words", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        corpus = folder / "corpus.jsonl"
        started = time.perf_counter()
        write_corpus(corpus, args.documents, args.words)
        print(f"wrote {args.documents} documents of {args.words} words "
              f"({corpus.stat().st_size / 2**20:.0f} MB) in {time.perf_counter() - started:.1f} s")
        db = open_db(folder / "studio.db")
        started = time.perf_counter()
        report = add_corpus(db, corpus, name="bench")
        elapsed = time.perf_counter() - started
        print(report.summary())
        print(f"corpus import: {report.passages} passages in {elapsed:.1f} s ({report.passages / elapsed:,.0f} passages/s)")


if __name__ == "__main__":
    main()
