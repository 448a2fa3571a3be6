"""Curation store at a million examples: insert, filtered pages, search, bulk accept, first render.

    python benchmarks/curation_store.py [--rows 1000000] [--dir DATA_DIR/bench] [--rebuild]

The first run builds a base store of rows-100k synthetic examples (pseudo-words with a Zipf
distribution, the paper's family mix, the language table's weights, about 1.3k characters per
example) in the data directory; it is kept and copied for later runs. Every measurement then
goes through the studio's own functions: storage.examples.insert_examples for the 100k insert
(hashing, duplicate checks, durable commit; the search index then catches up in the background,
and the time until search covers the new rows is printed too), storage.curation for pages, search
and bulk accept, and studio.curation.review.first_page for the Curate tab's first render. A base
built by an older studio is migrated in place (the migrations' time is printed).
"""

import argparse
import os
import random
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import curation  # noqa: E402
from storage.curation import ExampleFilter  # noqa: E402
from storage.db import now, open_db, transaction  # noqa: E402
from storage import search_backlog, search_text  # noqa: E402
from storage.dedup_keys import content_hash, norm_hash, norm_key  # noqa: E402
from storage.examples import ROW_INSERT, TEXT_INSERT, insert_examples  # noqa: E402
from studio.config import data_dir  # noqa: E402
from studio.curation import review  # noqa: E402
from studio.prompts.languages import languages  # noqa: E402

INSERT_ROWS = 100_000
BULK_MODEL = "bulk-model"        # exactly 100k pending base rows carry this model name
FAMILY_SHARES = {"short-long": 167, "long-short": 122, "sts": 99, "bitext": 89, "long-long": 17, "short-short": 13}
MODELS = ["gpt-4", "gpt-3.5-turbo", "llama-3-70b", "mistral-large"]
GOALS = {"insert": 5.0, "page": 50.0, "search": 100.0, "bulk": 2.0, "render": 200.0}


class TextMaker:
    """Pseudo-words with Zipf frequencies; rows in languages other than English carry accents."""

    def __init__(self, seed: int, vocabulary: int = 20_000):
        rng = random.Random(seed)
        syllables = ["ka", "to", "ri", "mo", "na", "se", "lu", "vi", "da", "pe", "zo", "gu", "shi", "ter", "lan",
                     "mor", "bel", "qua", "fin", "os", "ul", "ar", "em", "ix"]
        words = set()
        while len(words) < vocabulary:
            words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
        self.words = sorted(words, key=lambda w: rng.random())
        # Accented twins of every word, for rows in other languages (30% of their words).
        self.accented = [w.replace("e", "é", 1).replace("u", "ü", 1) for w in self.words]
        ranks = np.arange(1, vocabulary + 1)
        self.cumulative = np.cumsum(1.0 / ranks) / np.sum(1.0 / ranks)

    def texts(self, lengths: list[int], accents: list[bool], np_rng) -> list[str]:
        picks = np.searchsorted(self.cumulative, np_rng.random(sum(lengths))).tolist()
        mixed = (np_rng.random(sum(lengths)) < 0.3).tolist()
        out, at = [], 0
        for n, accent in zip(lengths, accents):
            if accent:
                out.append(" ".join(self.accented[p] if m else self.words[p]
                                    for p, m in zip(picks[at:at + n], mixed[at:at + n])))
            else:
                out.append(" ".join(map(self.words.__getitem__, picks[at:at + n])))
            at += n
        return out


_MAKER = None


def make_rows(count: int, seed: int, status_mix=True, model: str | None = None) -> list[dict]:
    global _MAKER
    if _MAKER is None:
        _MAKER = TextMaker(7)  # one vocabulary for every batch, so searches hit base and inserted rows alike
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    families = rng.choices(list(FAMILY_SHARES), list(FAMILY_SHARES.values()), k=count)
    table = languages()
    chosen = rng.choices([language.name for language in table], [language.weight for language in table], k=count)
    accents = [name != "English" for name in chosen]
    lengths = {"instruction": [3] * count, "query": [rng.randint(4, 14) for _ in range(count)],
               "positive": [rng.randint(60, 110) for _ in range(count)],
               "negative": [rng.randint(40, 80) for _ in range(count)]}
    texts = {name: _MAKER.texts(n, [False] * count if name == "instruction" else accents, np_rng)
             for name, n in lengths.items()}
    statuses = rng.choices(["pending", "accepted", "rejected"], [60, 30, 10], k=count) if status_mix else None
    rows = []
    for i in range(count):
        rows.append({
            "family": families[i], "language": chosen[i],
            "instruction": "Retrieve documents that answer a question about " + texts["instruction"][i],
            "query": texts["query"][i], "positive": texts["positive"][i],
            "negative": texts["negative"][i] if families[i] not in ("short-short", "long-long") else None,
            "status": statuses[i] if statuses else "pending",
            "model": model or MODELS[i % len(MODELS)], "template_version_id": None,
            "placeholders": {"num_words": "100", "language": chosen[i]}, "source": "generated",
        })
    return rows


def build_base(path: Path, base_rows: int, resume: bool = False) -> None:
    """Bulk-load the base store: real hashes, 20k rows per transaction, each batch indexed for
    search in one statement (as insert_examples does). `resume` continues an interrupted build."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not resume:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    db = open_db(path)
    stamp = now()
    started = time.perf_counter()
    chunk = 20_000
    done = db.execute("SELECT COUNT(*) FROM examples").fetchone()[0] // chunk * chunk
    db.execute("DELETE FROM example_texts WHERE id > ?", [done])
    db.execute("DELETE FROM example_rows WHERE id > ?", [done])
    seed = 1000 + done // chunk
    first = done
    while done < base_rows:
        n = min(chunk, base_rows - done)
        rows = make_rows(n, seed)
        seed += 1
        if done < INSERT_ROWS * 2:
            # The first 100k rows of the base are pending with one model name: the bulk-accept target.
            for row in rows:
                row["status"] = "pending"
                row["model"] = BULK_MODEL if done < INSERT_ROWS else row["model"]
        row_values, text_values = [], []
        for i, row in enumerate(rows):
            texts = [row["instruction"], row["query"], row["positive"], row["negative"]]
            placeholders = f'{{"num_words": "100", "language": "{row["language"]}"}}'
            folded = norm_hash(*texts)
            row_values.append([done + i + 1, row["family"], row["language"], row["status"], None, None, row["model"],
                               None, None, None, None, "generated", 0, norm_key(folded), stamp, stamp])
            text_values.append([done + i + 1, row["instruction"], row["query"], row["positive"], row["negative"],
                                placeholders, None, content_hash(*texts), folded])
        with transaction(db):
            db.execute("INSERT INTO fts_bulk_load (id) VALUES (1)")
            db.conn.executemany(ROW_INSERT, row_values)
            db.conn.executemany(TEXT_INSERT, text_values)
            db.execute(search_text.INDEX_RANGE, [done + 1, done + n])
            db.execute("DELETE FROM fts_bulk_load")
        done += n
        rate = (done - first) / (time.perf_counter() - started)
        print(f"  built {done:,}/{base_rows:,} ({rate:,.0f} rows/s)", flush=True)
    add_margins(db)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("ANALYZE")
    db.conn.close()


def add_margins(db) -> None:
    """Quality signals as a finished quality job leaves them: a margin on 80% of the rows (those
    with a negative that were checked), so sorting by margin is measured on a realistic store."""
    with transaction(db):
        db.execute("UPDATE example_rows SET q_margin = ((id * 2654435761) % 2000) / 1000.0 - 0.4,"
                   " q_margin_flag = (((id * 2654435761) % 2000) / 1000.0 - 0.4 <= 0), q_at = created_at"
                   " WHERE id % 5 != 0 AND q_margin IS NULL")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def line(name: str, value: float, unit: str, goal: float, extra: str = "") -> bool:
    ok = value < goal
    print(f"{name:<44} {value:>9.1f} {unit:<3} goal < {goal:g} {unit:<3} {'OK' if ok else 'MISSED'}  {extra}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", default=None, help="folder for the benchmark stores (default: DATA_DIR/bench)")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--build-only", action="store_true", help="build the base store and stop")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted build of the base store")
    parser.add_argument("--insert-rows", type=int, default=INSERT_ROWS, help="smaller for a quick check of the script")
    args = parser.parse_args()

    folder = Path(args.dir) if args.dir else data_dir() / "bench"
    base = folder / f"curation-base-{args.rows}.db"
    work = folder / f"curation-work-{args.rows}.db"
    base_rows = args.rows - INSERT_ROWS
    if args.rebuild or args.resume or not base.exists():
        print(f"building the base store of {base_rows:,} examples in {base} (once) ...", flush=True)
        started = time.perf_counter()
        build_base(base, base_rows, resume=args.resume)
        print(f"  base built in {time.perf_counter() - started:,.0f} s", flush=True)
    db = open_db(base, migrate=False)
    from storage.db import applied_versions, apply_migrations, available_migrations
    if {version for version, _, _ in available_migrations()} - applied_versions(db):
        # A base built by an older studio: upgrading it measures the migrations at this size too.
        started = time.perf_counter()
        print(f"migrating the base store: {apply_migrations(db)} in {time.perf_counter() - started:,.1f} s", flush=True)
    if db.execute("SELECT COUNT(*) FROM example_rows WHERE q_margin IS NOT NULL").fetchone()[0] == 0:
        add_margins(db)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    if args.build_only:
        return 0
    for suffix in ("-wal", "-shm"):
        Path(str(work) + suffix).unlink(missing_ok=True)
    shutil.copyfile(base, work)
    os.sync()  # write the 2.7 GB copy out first, so its write-back does not throttle the measured writes
    results = []

    # 1. Insert 100k through the studio's insert path (into the store of base_rows).
    fresh = make_rows(args.insert_rows, seed=424242, status_mix=False)
    # How much of the insert is Python hashing (both duplicate keys) rather than SQLite work.
    cpu = time.process_time()
    for row in fresh:
        texts = [row["instruction"], row["query"], row["positive"], row["negative"]]
        content_hash(*texts), norm_hash(*texts)
    hashing_cpu = time.process_time() - cpu
    db = open_db(work)
    helper_cpu = _children_cpu()
    started, cpu = time.perf_counter(), time.process_time()
    inserted = insert_examples(db, fresh, background=False)
    insert_s, insert_cpu = time.perf_counter() - started, time.process_time() - cpu
    helper_cpu = _children_cpu() - helper_cpu  # the hashing helper process (storage.key_worker)
    waiting = search_backlog.waiting(db)
    # The insert leaves copying its ~250 MB of write-ahead log into the database file to the
    # search indexer's first commit; timed here on its own, then the indexer starts as it would.
    copy_started = time.perf_counter()
    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    copy_s = time.perf_counter() - copy_started
    search_backlog.start_indexer(db)
    # A large insert leaves search indexing to a background thread: how long until search covers
    # the new rows (the Curate tab says "indexing N examples for search…" meanwhile).
    search_backlog.wait(db)
    searchable_s = time.perf_counter() - started
    assert search_backlog.waiting(db) == 0, search_backlog.last_error(db)
    total = db.execute("SELECT COUNT(*) FROM examples").fetchone()[0]
    print(f"store: {total:,} examples ({inserted.inserted:,} inserted, {inserted.duplicates:,} duplicates)")
    results.append(line(f"insert {args.insert_rows:,} examples", insert_s, "s", GOALS["insert"],
                        f"({args.insert_rows / insert_s:,.0f} rows/s; CPU {insert_cpu:.1f} s here and"
                        f" {helper_cpu:.1f} s in the hashing helper, where one thread alone hashes them in"
                        f" {hashing_cpu:.1f} s; durable and deduplicated)"))
    print(f"{'  ... log copied into the database file':<44} {copy_s:>9.1f} s   after the insert returned, in the"
          " background (the search indexer's first commit)")
    print(f"{'  ... and searchable (background indexing)':<44} {searchable_s:>9.1f} s   after the insert began;"
          f" {waiting:,} rows were waiting for the search index when the insert returned")

    # 2. Filtered, sorted pages (status + family + language), with the total count.
    rng = random.Random(3)
    table = languages()
    names = [language.name for language in table]
    weights = [language.weight for language in table]
    timings, by_margin = [], []
    for i in range(args.queries):
        flt = ExampleFilter(status=rng.choice(["pending", "accepted", "rejected"]),
                            family=rng.choices(list(FAMILY_SHARES), list(FAMILY_SHARES.values()))[0],
                            language=rng.choices(names, weights)[0])
        offset = rng.choice([0, 0, 25, 250])
        started = time.perf_counter()
        curation.page(db, flt, sort=("newest", "oldest")[i % 2], offset=offset, limit=25)
        timings.append((time.perf_counter() - started) * 1000)
        if i % 4 == 0:  # sorting by a quality signal (partial index): measured, without a goal
            started = time.perf_counter()
            curation.page(db, flt, sort="margin", offset=offset, limit=25)
            by_margin.append((time.perf_counter() - started) * 1000)
    results.append(line("filtered sorted page (status+family+language)", p95(timings), "ms", GOALS["page"],
                        f"p95 of {len(timings)} (newest/oldest first, with the total); "
                        f"median {statistics.median(timings):.1f} ms"))
    print(f"{'  same filters, sorted by margin':<44} {p95(by_margin):>9.1f} ms  p95 of {len(by_margin)};"
          f" median {statistics.median(by_margin):.1f} ms")

    # 3. Full-text search: a page with highlights plus the (capped) count, words of every frequency.
    words = _MAKER.words
    searches = []
    for i in range(args.queries):
        band = i % 4
        if band == 0:
            searches.append(words[rng.randrange(0, 100)])
        elif band == 1:
            searches.append(words[rng.randrange(100, 2000)])
        elif band == 2:
            searches.append(words[rng.randrange(2000, len(words))])
        else:
            searches.append(f"{words[rng.randrange(0, 500)]} {words[rng.randrange(500, 5000)]}")
    timings = []
    for i, text in enumerate(searches):
        flt = ExampleFilter(search=str(text), status="pending" if i % 5 == 0 else None)
        started = time.perf_counter()
        review.table_view(db, flt, "newest", 0, 25)
        timings.append((time.perf_counter() - started) * 1000)
    results.append(line("FTS search page with highlights + count", p95(timings), "ms", GOALS["search"],
                        f"p95 of {len(timings)}; median {statistics.median(timings):.1f} ms"))

    # 4. Bulk accept of 100k matched rows, with per-example history (undoable).
    flt = ExampleFilter(status="pending", model=BULK_MODEL)
    matched = curation.count(db, flt)
    started, cpu = time.perf_counter(), time.process_time()
    result = curation.set_status(db, flt, "accepted", who="benchmark")
    bulk_s, bulk_cpu = time.perf_counter() - started, time.process_time() - cpu
    results.append(line(f"bulk accept of {matched:,} matched rows", bulk_s, "s", GOALS["bulk"],
                        f"({result.count:,} changed, history kept; {bulk_cpu:.1f} s of CPU)"))

    # 5. The Curate tab's first page render, server side (filter choices + newest page + counts).
    db.conn.close()
    timings = []
    for _ in range(30):
        review._local.dbs = {}  # a fresh connection, as for a new server thread
        started = time.perf_counter()
        review.first_page(work)
        timings.append((time.perf_counter() - started) * 1000)
    warm = []
    for _ in range(30):
        started = time.perf_counter()
        review.first_page(work)
        warm.append((time.perf_counter() - started) * 1000)
    results.append(line("Curate tab first page render (server side)", p95(timings), "ms", GOALS["render"],
                        f"p95 of 30 with a new connection; warm p95 {p95(warm):.1f} ms"))

    met = sum(results)
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"summary: {met}/{len(results)} goals met on a store of {total:,} examples "
          f"(insert {insert_s:.2f} s, bulk {bulk_s:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
