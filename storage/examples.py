"""Examples: insertion with duplicate detection, status changes and edits with history."""

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from operator import itemgetter

from storage import key_worker, search_backlog, search_text
from storage.db import now, transaction
from storage.dedup_keys import both_hashes, norm_key, norm_key_sql

STATUSES = ("pending", "accepted", "rejected")
PROVENANCE_FIELDS = ("task_id", "template_version_id", "model", "raw_response", "prompt_tokens",
                     "completion_tokens", "cost", "job_id")


_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps(..., ensure_ascii=False) builds one per call


@dataclass
class InsertResult:
    inserted: int = 0
    duplicates: int = 0
    ids: list[int] = field(default_factory=list)       # the new examples' ids, in insertion order
    row_ids: list[int | None] = field(default_factory=list)  # per given row: its new id, None for a duplicate


_INSERT_SQL = (  # the single-table store before migration 23
    "INSERT OR IGNORE INTO examples (family, language, instruction, query, positive, negative, status,"
    " task_id, template_version_id, placeholders, model, raw_response, prompt_tokens,"
    " completion_tokens, cost, job_id, source, negative_mined, content_hash, norm_hash,"
    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
ROW_COLUMNS = ("id", "family", "language", "status", "task_id", "template_version_id", "model", "prompt_tokens",
               "completion_tokens", "cost", "job_id", "source", "negative_mined", "norm_key", "created_at", "updated_at")
TEXT_COLUMNS = ("id", "instruction", "query", "positive", "negative", "placeholders", "raw_response", "content_hash",
                "norm_hash")
# Columns that may be NULL (their default): an insert leaves out the ones no row of a batch sets.
NULLABLE = frozenset({"task_id", "template_version_id", "model", "prompt_tokens", "completion_tokens", "cost",
                      "job_id", "negative", "placeholders", "raw_response"})


def insert_sql(table: str, columns) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"


ROW_INSERT = insert_sql("example_rows", ROW_COLUMNS)
TEXT_INSERT = insert_sql("example_texts", TEXT_COLUMNS)
LOOKUP_BATCH = 500
# Up to this many new examples are added to the search index inside the inserting transaction
# (~50 ms per thousand); a larger insert (an import) commits its rows at once and leaves them in
# storage.search_backlog, which a background thread indexes in steps while search says so.
SYNC_INDEX_LIMIT = 5_000
SEARCH_TRIGGER = "example_texts_fts_insert"  # indexes a row inserted one at a time (migration 23)


def _placeholders_text(value):
    return _JSON.encode(value) if isinstance(value, dict) else value


def _placeholders_writer():
    """_placeholders_text with a memo for dicts of text. The rows of an insert share a few dozen
    sets of placeholders, and the JSON encoder costs ~3 µs a call: 0.3-0.4 s of a 100k insert."""
    memo = {}

    def write(value):
        if not isinstance(value, dict):
            return value
        key = tuple(value.items())
        try:
            return memo[key]
        except TypeError:  # an unhashable value (a list)
            return _JSON.encode(value)
        except KeyError:
            text = memo[key] = _JSON.encode(value)
            if not all(type(item) is str for _, item in key):  # 1, 1.0 and True are equal, their JSON is not
                del memo[key]
            return text

    return write


def _values(row: dict, exact: str, folded: str, stamp: str) -> list:
    return [row["family"], row.get("language") or "English", row.get("instruction") or "", row["query"],
            row["positive"], row.get("negative"), row.get("status") or "pending",
            *[row.get(name) for name in PROVENANCE_FIELDS[:2]], _placeholders_text(row.get("placeholders")),
            *[row.get(name) for name in PROVENANCE_FIELDS[2:]],
            row.get("source") or "generated", int(bool(row.get("negative_mined"))), exact, folded, stamp, stamp]


def no_negative(value) -> bool:
    """Whether a negative's value means "this example has none". The store keeps none as NULL: an
    empty or blank text (what CSV and an emptied text box can only write) is stored as NULL too, so
    every reader tests `negative is None` and nothing else."""
    return value is None or (isinstance(value, str) and (not value or value.isspace()))


def _refused() -> ValueError:
    return ValueError("the store refused an example: it needs a family, a query and a positive,"
                      f" and a status among {', '.join(STATUSES)}")


def _counted_duplicate(fold: str, stored: set, seen: set, result: InsertResult) -> bool:
    """Whether a row with this normalised hash is stored already or came earlier in this call
    (then it is counted as a duplicate); otherwise it is remembered as seen."""
    if fold in stored or fold in seen:
        result.duplicates += 1
        result.row_ids.append(None)
        return True
    seen.add(fold)
    return False


def split_schema(db) -> bool:
    """Whether the store has the narrow row table of migration 23 (older stores are upgraded on open;
    only a store opened without migrating can be older)."""
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = 'example_rows'").fetchone() is not None


def insert_examples(db, rows: list[dict], index_now: bool | None = None, background: bool = True) -> InsertResult:
    """Insert examples in one transaction, skipping exact and normalised-text duplicates.

    The rows are durable when this returns. They are searchable at once unless the insert is
    larger than SYNC_INDEX_LIMIT (or index_now=False): then the search index catches up in a
    background thread (or, with background=False, when the caller runs search_backlog.catch_up)
    and storage.search_backlog.waiting says how many are still waiting. A large insert computes
    its duplicate keys partly in a helper process (storage.key_worker) while it writes.
    A blank negative is stored as NULL (see no_negative); the row dict is changed to say so."""
    stamp = now()
    texts = []
    for row in rows:
        if row.get("family") is None or row.get("query") is None or row.get("positive") is None or (
                row.get("status") or "pending") not in STATUSES:
            raise _refused()
        if row.get("negative") is not None and no_negative(row["negative"]):
            row["negative"] = None
        texts.append((row.get("instruction"), row["query"], row["positive"], row.get("negative")))
    if not split_schema(db):
        return _insert_single_table(db, [(row, *keys) for row, keys in zip(rows, both_hashes(texts))], stamp)
    result = InsertResult()
    checkpoint_pages = db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    try:
        with transaction(db), closing(key_worker.hashed_chunks(texts)) as keys:
            deferred = _insert_new(db, rows, keys, stamp, index_now, result)
    finally:
        db.execute(f"PRAGMA wal_autocheckpoint = {int(checkpoint_pages)}")
    if deferred and background:
        search_backlog.start_indexer(db)
    return result


def _insert_new(db, rows: list[dict], keys, stamp: str, index_now: bool | None, result: InsertResult) -> bool:
    """The rows that are not duplicates, inserted (inside the caller's transaction) a chunk at a
    time as `keys` yields their (content_hash, norm_hash); returns whether their search indexing
    was left to the backlog."""
    seen: set[str] = set()
    placeholders_text = _placeholders_writer()
    last = db.execute("SELECT COALESCE(MAX(id), 0) FROM example_rows").fetchone()[0]
    next_id = last + 1
    at = 0
    # The row trigger would index one example at a time; one INSERT ... SELECT over the new
    # rows costs a quarter of that (see migration 21), or the backlog takes them. The trigger
    # still runs for every row to find that out (~1.7 µs a row); a large insert drops it for its
    # transaction and creates it again before committing (no other connection sees it missing).
    db.execute("INSERT OR REPLACE INTO fts_bulk_load (id) VALUES (1)")
    trigger = db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?",
                         [SEARCH_TRIGGER]).fetchone() if len(rows) > SYNC_INDEX_LIMIT else None
    if trigger:
        db.execute(f"DROP TRIGGER {SEARCH_TRIGGER}")
    try:
        for chunk_keys in keys:
            fresh_rows, fresh_texts = [], []
            for start in range(0, len(chunk_keys), LOOKUP_BATCH):
                batch = chunk_keys[start:start + LOOKUP_BATCH]
                short_keys = [norm_key(fold) for _, fold in batch]
                lookup = list(set(short_keys))
                # Equal 60-bit keys are compared by the whole hash, which lives with the texts.
                stored = {found for (found,) in db.execute(
                    "SELECT t.norm_hash FROM example_rows r JOIN example_texts t ON t.id = r.id"
                    f" WHERE r.norm_key IN ({', '.join('?' for _ in lookup)})", lookup)}
                for (exact, fold), short_key in zip(batch, short_keys):
                    row = rows[at]
                    at += 1
                    if _counted_duplicate(fold, stored, seen, result):
                        continue
                    result.row_ids.append(next_id)
                    fresh_rows.append((next_id, row["family"], row.get("language") or "English",
                                       row.get("status") or "pending", row.get("task_id"),
                                       row.get("template_version_id"), row.get("model"), row.get("prompt_tokens"),
                                       row.get("completion_tokens"), row.get("cost"), row.get("job_id"),
                                       row.get("source") or "generated", int(bool(row.get("negative_mined"))),
                                       short_key, stamp, stamp))
                    fresh_texts.append((next_id, row.get("instruction") or "", row["query"], row["positive"],
                                        row.get("negative"), placeholders_text(row.get("placeholders")),
                                        row.get("raw_response"), exact, fold))
                    next_id += 1
            _insert_tuples(db, "example_rows", ROW_COLUMNS, fresh_rows)
            _insert_tuples(db, "example_texts", TEXT_COLUMNS, fresh_texts)
    except sqlite3.IntegrityError:
        raise _refused() from None
    finally:
        if trigger:
            db.execute(trigger[0])
        db.execute("DELETE FROM fts_bulk_load")
    if next_id == last + 1:
        return False
    first, final = last + 1, next_id - 1
    deferred = (final - last > SYNC_INDEX_LIMIT) if index_now is None else not index_now
    if deferred:
        search_backlog.add(db, first, final)
        # A large insert leaves ~2.5 kB of write-ahead log per row. SQLite copies the log into
        # the database file after a commit that leaves it over 1,000 pages, which took 0.6-0.9 s
        # of a 100k import on its own; the search indexer's first commit (in the background)
        # copies it instead (the caller sets the size back). Until then readers find the new
        # rows in the log, as after any commit.
        db.execute("PRAGMA wal_autocheckpoint = 0")
    else:
        db.execute(search_text.INDEX_RANGE, [first, final])
    result.inserted = final - last
    result.ids = list(range(first, final + 1))
    return deferred


def _insert_tuples(db, table: str, columns: tuple, tuples: list[tuple]) -> None:
    """executemany of `tuples` (values of `columns`) into `table`, leaving out the nullable columns
    that are None in every tuple: the sqlite3 module binds a None through its adapter lookup, which
    cost ~1 µs a value, 0.3-0.8 s of a 100k insert whose rows leave six such columns empty."""
    keep = [at for at, name in enumerate(columns)
            if name not in NULLABLE or set(map(itemgetter(at), tuples)) != {None}]
    if len(keep) < len(columns):
        tuples = map(itemgetter(*keep), tuples)
    db.conn.executemany(insert_sql(table, [columns[at] for at in keep]), tuples)


def _insert_single_table(db, hashed: list, stamp: str) -> InsertResult:
    """insert_examples for a store from before migration 23 (only ever opened unmigrated)."""
    result = InsertResult()
    seen: set[str] = set()
    bulk_index = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'fts_bulk_load'").fetchone() is not None
    with transaction(db):
        for start in range(0, len(hashed), LOOKUP_BATCH):
            batch = hashed[start:start + LOOKUP_BATCH]
            folded = list({item[2] for item in batch})
            stored = {found for (found,) in db.execute(
                f"SELECT norm_hash FROM examples WHERE norm_hash IN ({', '.join('?' for _ in folded)})", folded)}
            fresh, positions = [], []
            for row, exact, fold in batch:
                if _counted_duplicate(fold, stored, seen, result):
                    continue
                fresh.append(_values(row, exact, fold, stamp))
                positions.append(len(result.row_ids))
                result.row_ids.append(None)  # its id once the batch is in
            if not fresh:
                continue
            last = db.execute("SELECT COALESCE(MAX(id), 0) FROM examples").fetchone()[0]
            if bulk_index:
                db.execute("INSERT OR REPLACE INTO fts_bulk_load (id) VALUES (1)")
            try:
                inserted = db.conn.executemany(_INSERT_SQL, fresh).rowcount
            finally:
                if bulk_index:
                    db.execute("INSERT INTO examples_fts (rowid, query, positive, negative)"
                               " SELECT id, query, positive, negative FROM examples WHERE id > ?", [last])
                    db.execute("DELETE FROM fts_bulk_load")
            if inserted != len(fresh):
                raise _refused()
            for offset, position in enumerate(positions):
                result.row_ids[position] = last + 1 + offset
            result.inserted += inserted
            result.ids.extend(range(last + 1, last + 1 + inserted))
    return result


# Column order of the `examples` view: that of the single table it replaced, then any column a
# later migration adds to example_rows or example_texts.
VIEW_ORDER = ["id", "family", "language", "instruction", "query", "positive", "negative", "status", "task_id",
              "template_version_id", "placeholders", "model", "raw_response", "prompt_tokens", "completion_tokens",
              "cost", "job_id", "source", "negative_mined", "content_hash", "norm_hash", "created_at", "updated_at",
              "q_margin", "q_margin_flag", "q_dup_group", "q_dup_size", "q_length_ratio", "q_length_flag",
              "q_language_flag", "q_empty_flag", "q_problems", "q_model", "q_at"]
# What an INSERT through the view gets for a column it leaves out (views have no defaults).
VIEW_DEFAULTS = {"language": "'English'", "instruction": "''", "status": "'pending'", "source": "'generated'",
                 "negative_mined": "0", "created_at": "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')",
                 "updated_at": "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"}


def split_columns(db) -> tuple[list[str], list[str]]:
    """The columns of example_rows and of example_texts (the two halves of the `examples` view), ids included."""
    def columns(table: str) -> list[str]:
        return [row[1] for row in db.execute(f"PRAGMA table_info({table})").fetchall()]

    return columns("example_rows"), columns("example_texts")


def create_examples_view(db) -> None:
    """(Re)create the `examples` view and its write triggers from the columns of example_rows and
    example_texts. A migration that adds a column to either table calls this afterwards."""
    rows, texts = split_columns(db)
    texts = [name for name in texts if name != "id"]
    known = set(rows) | set(texts)
    order = [name for name in VIEW_ORDER if name in known]
    order += [name for name in rows + texts if name not in order]
    db.execute("DROP VIEW IF EXISTS examples")
    # Each text column is its own lookup by primary key, evaluated only when a query uses it: a
    # count, GROUP BY or filter on short columns never touches example_texts. (A LEFT JOIN would
    # read the texts of every row in aggregates, which SQLite does not drop joins from.)
    selected = [f"(SELECT t.{name} FROM example_texts t WHERE t.id = r.id) AS {name}" if name in texts else f"r.{name}"
                for name in order]
    db.execute(f"CREATE VIEW examples AS SELECT {', '.join(selected)} FROM example_rows r")

    def value(name):
        if name == "norm_key":
            return f"COALESCE(new.norm_key, {norm_key_sql('new.norm_hash')})"
        return f"COALESCE(new.{name}, {VIEW_DEFAULTS[name]})" if name in VIEW_DEFAULTS else f"new.{name}"

    row_columns = [name for name in rows if name != "id"]
    db.execute(f"""CREATE TRIGGER examples_view_insert INSTEAD OF INSERT ON examples BEGIN
        INSERT INTO example_rows (id, {', '.join(row_columns)}) VALUES (new.id, {', '.join(map(value, row_columns))});
        INSERT INTO example_texts (id, {', '.join(texts)}) VALUES (last_insert_rowid(), {', '.join(map(value, texts))});
    END""")
    row_sets = ", ".join(f"{name} = new.{name}" for name in row_columns if name != "norm_key")
    text_sets = ", ".join(f"{name} = new.{name}" for name in texts)
    text_changed = " OR ".join(f"new.{name} IS NOT old.{name}" for name in texts)
    db.execute(f"""CREATE TRIGGER examples_view_update INSTEAD OF UPDATE ON examples BEGIN
        UPDATE example_rows SET {row_sets}, norm_key = {norm_key_sql('new.norm_hash')} WHERE id = old.id;
        UPDATE example_texts SET {text_sets} WHERE id = old.id AND ({text_changed});
    END""")
    db.execute("""CREATE TRIGGER examples_view_delete INSTEAD OF DELETE ON examples BEGIN
        DELETE FROM example_texts WHERE id = old.id;
        DELETE FROM example_rows WHERE id = old.id;
    END""")


def get_example(db, example_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM examples WHERE id = ?", [example_id]))
    return rows[0] if rows else None


def record_history(db, example_id: int, action: str, before: dict | None, after: dict | None,
                   who: str = "user") -> None:
    db.execute(
        "INSERT INTO example_history (example_id, at, who, action, before, after) VALUES (?, ?, ?, ?, ?, ?)",
        [example_id, now(), who, action, json.dumps(before, ensure_ascii=False) if before is not None else None,
         json.dumps(after, ensure_ascii=False) if after is not None else None],
    )


def count_examples(db, status: str | None = None) -> int:
    if status:
        return db.execute("SELECT COUNT(*) FROM examples WHERE status = ?", [status]).fetchone()[0]
    return db.execute("SELECT COUNT(*) FROM examples").fetchone()[0]
