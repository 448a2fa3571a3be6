"""Examples: insertion with duplicate detection, status changes and edits with history."""

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field

from storage.db import now, transaction

STATUSES = ("pending", "accepted", "rejected")
CONTENT_FIELDS = ("instruction", "query", "positive", "negative")
PROVENANCE_FIELDS = ("task_id", "template_version_id", "model", "raw_response", "prompt_tokens",
                     "completion_tokens", "cost", "job_id")
_SPACE = re.compile(r"\s+")


def content_hash(instruction, query, positive, negative) -> str:
    """The exact-duplicate key: the four texts as they are."""
    payload = json.dumps([instruction or "", query, positive, negative], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def normalize_text(text: str | None) -> str:
    """Case, whitespace, punctuation and Unicode form folded away."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return _SPACE.sub(" ", text).strip()


def norm_hash(instruction, query, positive, negative) -> str:
    payload = json.dumps([normalize_text(value) for value in (instruction, query, positive, negative)],
                         ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class InsertResult:
    inserted: int = 0
    duplicates: int = 0
    ids: list[int] = field(default_factory=list)


def insert_examples(db, rows: list[dict]) -> InsertResult:
    """Insert examples in one transaction, skipping exact and normalised-text duplicates."""
    result = InsertResult()
    stamp = now()
    with transaction(db):
        for row in rows:
            values = [row.get(name) for name in CONTENT_FIELDS]
            exact, folded = content_hash(*values), norm_hash(*values)
            if db.execute("SELECT 1 FROM examples WHERE norm_hash = ? LIMIT 1", [folded]).fetchone():
                result.duplicates += 1
                continue
            placeholders = row.get("placeholders")
            cursor = db.execute(
                "INSERT OR IGNORE INTO examples (family, language, instruction, query, positive, negative, status,"
                " task_id, template_version_id, placeholders, model, raw_response, prompt_tokens,"
                " completion_tokens, cost, job_id, source, negative_mined, content_hash, norm_hash,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [row["family"], row.get("language") or "English", row.get("instruction") or "", row["query"],
                 row["positive"], row.get("negative"), row.get("status") or "pending",
                 *[row.get(name) for name in PROVENANCE_FIELDS[:2]],
                 json.dumps(placeholders, ensure_ascii=False) if isinstance(placeholders, dict) else placeholders,
                 *[row.get(name) for name in PROVENANCE_FIELDS[2:]],
                 row.get("source") or "generated", int(bool(row.get("negative_mined"))), exact, folded,
                 stamp, stamp],
            )
            if cursor.rowcount:
                result.inserted += 1
                result.ids.append(cursor.lastrowid)
            else:
                result.duplicates += 1
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
