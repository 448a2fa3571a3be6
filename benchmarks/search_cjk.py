"""Search indexing of text written without spaces against Latin text, through the studio's own path.

    python benchmarks/search_cjk.py [--rows 20000]

Chinese text is indexed one character to a token (storage/search_text.py). This inserts the same
number of pseudo-Chinese rows (about 430 characters each) and pseudo-Latin rows (about 1.3k
characters, 226 words) into two fresh stores, leaves both to the search backlog, and times the
insert, the indexing, the index's size and a search page for a two-character (or one-word) query.
Last line: `cjk search: indexing X× the time of Latin text per row, search page Y ms`.
"""

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import curation, search_backlog  # noqa: E402
from storage.curation import ExampleFilter  # noqa: E402
from storage.db import open_db  # noqa: E402
from storage.examples import insert_examples  # noqa: E402


def measure(rows: list[dict], query: str) -> tuple[float, float, float, float]:
    with tempfile.TemporaryDirectory() as folder:
        db = open_db(Path(folder) / "studio.db")
        started = time.perf_counter()
        insert_examples(db, rows, index_now=False, background=False)
        inserted = time.perf_counter() - started
        started = time.perf_counter()
        search_backlog.catch_up(db)
        indexed = time.perf_counter() - started
        size = db.execute("SELECT SUM(length(block)) FROM examples_fts_data").fetchone()[0] / 1e6
        started = time.perf_counter()
        for _ in range(20):
            curation.page(db, ExampleFilter(search=query), limit=25)
        page_ms = (time.perf_counter() - started) / 20 * 1000
        db.conn.close()
    return inserted, indexed, size, page_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    rng = random.Random(1)
    han = [chr(code) for code in range(0x4E00, 0x4E00 + 3000)]
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(20_000)]

    def chinese(n):
        return "".join(rng.choice(han) for _ in range(n)) + "。"

    def latin(n):
        return " ".join(rng.choice(words) for _ in range(n)) + "."

    results = {}
    for label, make, language in (("Chinese", chinese, "Chinese"), ("Latin", latin, "English")):
        sizes = (12, 200, 200) if label == "Chinese" else (6, 110, 110)
        rows = [{"family": "short-long", "language": language, "query": make(sizes[0]), "positive": make(sizes[1]),
                 "negative": make(sizes[2])} for _ in range(args.rows)]
        query = rows[5]["positive"][50:52] if label == "Chinese" else rows[5]["positive"].split()[10]
        inserted, indexed, size, page_ms = measure(rows, query)
        results[label] = (indexed, page_ms)
        print(f"{label}: insert {inserted:.2f} s, search indexing {indexed:.2f} s for {args.rows:,} rows, "
              f"index {size:.0f} MB, search page {page_ms:.1f} ms (query {query!r})", flush=True)
    ratio = results["Chinese"][0] / results["Latin"][0]
    print(f"cjk search: indexing {ratio:.2f}× the time of Latin text per row, search page {results['Chinese'][1]:.1f} ms")


if __name__ == "__main__":
    main()
