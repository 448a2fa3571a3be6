"""Examples: insertion with duplicate detection, status changes and edits with history."""

import hashlib
import json
import sys
import unicodedata
from dataclasses import dataclass, field

from storage.db import now, transaction

STATUSES = ("pending", "accepted", "rejected")
CONTENT_FIELDS = ("instruction", "query", "positive", "negative")
PROVENANCE_FIELDS = ("task_id", "template_version_id", "model", "raw_response", "prompt_tokens",
                     "completion_tokens", "cost", "job_id")
INSERT_BATCH = 500


def content_hash(instruction, query, positive, negative) -> str:
    """The exact-duplicate key: the four texts as they are."""
    payload = json.dumps([instruction or "", query, positive, negative], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _punctuation() -> tuple[frozenset, bytes]:
    marks = [chr(cp) for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)).startswith("P")]
    return frozenset(marks), bytes(ord(ch) for ch in marks if ord(ch) < 128)


_PUNCTUATION, _ASCII_PUNCTUATION = _punctuation()


def normalize_text(text: str | None) -> str:
    """Case, whitespace, punctuation and Unicode form folded away."""
    if not text:
        return ""
    if text.isascii():
        # Same result as the general path (NFKC and casefold are lower() on ASCII), ten times faster.
        text = text.lower().encode("ascii").translate(None, _ASCII_PUNCTUATION).decode("ascii")
    else:
        text = unicodedata.normalize("NFKC", text).casefold()
        for mark in _PUNCTUATION.intersection(text):
            text = text.replace(mark, "")
    return " ".join(text.split())


def norm_hash(instruction, query, positive, negative) -> str:
    payload = json.dumps([normalize_text(value) for value in (instruction, query, positive, negative)],
                         ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class InsertResult:
    inserted: int = 0
    duplicates: int = 0
    ids: list[int] = field(default_factory=list)


_INSERT_SQL = (
    "INSERT OR IGNORE INTO examples (family, language, instruction, query, positive, negative, status,"
    " task_id, template_version_id, placeholders, model, raw_response, prompt_tokens,"
    " completion_tokens, cost, job_id, source, negative_mined, content_hash, norm_hash,"
    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _values(row: dict, exact: str, folded: str, stamp: str) -> list:
    placeholders = row.get("placeholders")
    return [row["family"], row.get("language") or "English", row.get("instruction") or "", row["query"],
            row["positive"], row.get("negative"), row.get("status") or "pending",
            *[row.get(name) for name in PROVENANCE_FIELDS[:2]],
            json.dumps(placeholders, ensure_ascii=False) if isinstance(placeholders, dict) else placeholders,
            *[row.get(name) for name in PROVENANCE_FIELDS[2:]],
            row.get("source") or "generated", int(bool(row.get("negative_mined"))), exact, folded, stamp, stamp]


def insert_examples(db, rows: list[dict]) -> InsertResult:
    """Insert examples in one transaction, skipping exact and normalised-text duplicates."""
    result = InsertResult()
    stamp = now()
    hashed = []
    for row in rows:
        texts = [row.get(name) for name in CONTENT_FIELDS]
        hashed.append((row, content_hash(*texts), norm_hash(*texts)))
    seen: set[str] = set()
    # A store older than migration 21 has no search index to feed.
    bulk_index = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'fts_bulk_load'").fetchone() is not None
    with transaction(db):
        for start in range(0, len(hashed), INSERT_BATCH):
            batch = hashed[start:start + INSERT_BATCH]
            folded = list({item[2] for item in batch})
            stored = {found for (found,) in db.execute(
                f"SELECT norm_hash FROM examples WHERE norm_hash IN ({', '.join('?' for _ in folded)})", folded)}
            fresh = []
            for row, exact, fold in batch:
                if fold in stored or fold in seen:
                    result.duplicates += 1
                    continue
                seen.add(fold)
                fresh.append(_values(row, exact, fold, stamp))
            if not fresh:
                continue
            # Rows get ids one above the largest so far; inside our write lock that is predictable,
            # which lets the batch go through executemany and still report each id.
            last = db.execute("SELECT COALESCE(MAX(id), 0) FROM examples").fetchone()[0]
            # The search index takes the whole batch in one statement (see migration 21).
            if not bulk_index:
                inserted = db.conn.executemany(_INSERT_SQL, fresh).rowcount
            else:
                db.execute("INSERT OR REPLACE INTO fts_bulk_load (id) VALUES (1)")
                try:
                    inserted = db.conn.executemany(_INSERT_SQL, fresh).rowcount
                finally:
                    # Also when the insert failed part way: a caller that goes on inside its own
                    # transaction must find every row indexed and the row trigger back in charge.
                    db.execute("INSERT INTO examples_fts (rowid, query, positive, negative)"
                               " SELECT id, query, positive, negative FROM examples WHERE id > ?", [last])
                    db.execute("DELETE FROM fts_bulk_load")
            if inserted != len(fresh):
                raise ValueError("the store refused an example: it needs a family, a query and a positive,"
                                 f" and a status among {', '.join(STATUSES)}")
            result.inserted += inserted
            result.ids.extend(range(last + 1, last + 1 + inserted))
    return result


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
