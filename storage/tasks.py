"""Tasks: brainstormed task descriptions per family, with provenance and a status.

A task's `norm` (case, whitespace and punctuation folded) is unique per family, so a
near-identical task is dropped on insert rather than stored twice.
"""

from dataclasses import dataclass, field

from storage.db import now, transaction
from storage.dedup_keys import normalize_text
from storage.errors import StudioError

STATUSES = ("active", "rejected")
MAX_TASK_CHARS = 1000


def normalize_task(text: str) -> str:
    return normalize_text(text)


@dataclass
class AddResult:
    inserted: int = 0
    duplicates: int = 0
    ids: list[int] = field(default_factory=list)
    skipped: int = 0  # empty or over-long lines


def add_tasks(db, family: str, texts: list[str], source: str = "brainstorm", template_version_id: int | None = None,
              model: str | None = None, raw_response: str | None = None, job_id: int | None = None,
              limit: int | None = None) -> AddResult:
    """Store new active tasks in one transaction; near-duplicates (stored or in `texts`) are counted, not stored.
    With `limit`, stop once that many were inserted."""
    result = AddResult()
    stamp = now()
    with transaction(db):
        for text in texts:
            if limit is not None and result.inserted >= limit:
                break
            text = " ".join((text or "").split())
            norm = normalize_task(text)
            if not norm or len(text) > MAX_TASK_CHARS:
                result.skipped += 1
                continue
            cursor = db.execute(
                "INSERT OR IGNORE INTO tasks (family, text, norm, status, source, template_version_id, model,"
                " raw_response, job_id, created_at, updated_at) VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?)",
                [family, text, norm, source, template_version_id, model, raw_response, job_id, stamp, stamp])
            if cursor.rowcount:
                result.inserted += 1
                result.ids.append(cursor.lastrowid)
            else:
                result.duplicates += 1
    return result


def get_task(db, task_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM tasks WHERE id = ?", [task_id]))
    return rows[0] if rows else None


def list_tasks(db, family: str | None = None, status: str | None = None, limit: int | None = None) -> list[dict]:
    """Tasks with the number of examples each already has, newest first."""
    sql = ("SELECT t.id, t.family, t.text, t.status, t.source, t.model, t.job_id, t.created_at, t.updated_at,"
           " (SELECT COUNT(*) FROM examples e WHERE e.task_id = t.id) AS examples FROM tasks t WHERE 1 = 1")
    params: list = []
    if family:
        sql += " AND t.family = ?"
        params.append(family)
    if status:
        sql += " AND t.status = ?"
        params.append(status)
    sql += " ORDER BY t.id DESC"
    if limit:
        sql += " LIMIT ?"
        params.append(limit)
    return list(db.query(sql, params))


def active_task_ids(db, family: str, limit: int | None = None) -> list[int]:
    """Active tasks of a family, oldest first (a stable order for planning work)."""
    sql = "SELECT id FROM tasks WHERE family = ? AND status = 'active' ORDER BY id"
    params: list = [family]
    if limit:
        sql += " LIMIT ?"
        params.append(limit)
    return [row[0] for row in db.execute(sql, params).fetchall()]


def task_texts(db, task_ids: list[int]) -> dict[int, str]:
    found = {}
    for start in range(0, len(task_ids), 500):
        chunk = task_ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(db.execute(f"SELECT id, text FROM tasks WHERE id IN ({marks})", chunk).fetchall())
    return found


def set_status(db, task_ids: list[int] | int, status: str) -> int:
    if status not in STATUSES:
        raise StudioError(f"unknown task status {status!r}: use active or rejected")
    ids = [task_ids] if isinstance(task_ids, int) else list(task_ids)
    if not ids:
        return 0
    with transaction(db):
        marks = ",".join("?" * len(ids))
        cursor = db.execute(f"UPDATE tasks SET status = ?, updated_at = ? WHERE id IN ({marks})", [status, now(), *ids])
    return cursor.rowcount


def edit_task(db, task_id: int, text: str) -> dict:
    """Change a task's wording; refused when it would become a near-duplicate of another task."""
    text = " ".join((text or "").split())
    norm = normalize_task(text)
    if not norm:
        raise StudioError("a task cannot be empty: type its description or reject it instead")
    if len(text) > MAX_TASK_CHARS:
        raise StudioError(f"a task is at most {MAX_TASK_CHARS} characters: shorten it")
    task = get_task(db, task_id)
    if task is None:
        raise StudioError(f"there is no task {task_id}: refresh the list")
    with transaction(db):
        clash = db.execute("SELECT id FROM tasks WHERE family = ? AND norm = ? AND id != ?",
                           [task["family"], norm, task_id]).fetchone()
        if clash:
            raise StudioError(f"task {clash[0]} already says the same thing: edit or reject that one instead")
        db.execute("UPDATE tasks SET text = ?, norm = ?, source = CASE WHEN source = 'user' OR source LIKE '%+edited'"
                   " THEN source ELSE source || '+edited' END, updated_at = ? WHERE id = ?", [text, norm, now(), task_id])
    return get_task(db, task_id)


def count_tasks(db) -> dict[str, dict[str, int]]:
    """{family: {"active": n, "rejected": m}}."""
    counts: dict[str, dict[str, int]] = {}
    for family, status, n in db.execute("SELECT family, status, COUNT(*) FROM tasks GROUP BY family, status"):
        counts.setdefault(family, {"active": 0, "rejected": 0})[status] = n
    return counts


def family_fingerprint(db, family: str) -> tuple:
    """Cheap values that change whenever a family's task list (or its example counts) does."""
    tasks = db.execute("SELECT COUNT(*), MAX(updated_at) FROM tasks WHERE family = ?", [family]).fetchone()
    examples = db.execute("SELECT COUNT(*) FROM examples WHERE family = ? AND task_id IS NOT NULL",
                          [family]).fetchone()
    return (*tasks, examples[0])
