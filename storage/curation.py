"""Curation queries: filters, full-text search, pages, bulk actions, edits and their undo.

Every change a person (or a job acting for one) makes to examples is an *action*: one row in
`curation_actions` plus one `example_history` row per example with the fields before and after.
Undo replays the `before` side of the newest action that is not undone yet, so a bulk accept of
100k rows undoes as one step, just like a single edit.

Why one module of ~600 lines: a page and a bulk action read the same filter through the one
`where_clause`, so what a person sees is exactly what "accept all matching" changes; the actions
and their undo share the history format. Split, both halves would import each other's privates.
"""

import json
import sqlite3
from dataclasses import asdict, dataclass, field

from storage import search_text
from storage.db import now, transaction
from storage.dedup_keys import content_hash, norm_hash, norm_key, norm_key_sql
from storage.examples import STATUSES, no_negative, split_columns
from storage.errors import StudioError

# Markers that highlight() puts around search matches. Private-use characters cannot clash with
# real text, so the UI can HTML-escape the text first and turn the markers into <mark> after.
MARK_OPEN = "\ue000"
MARK_CLOSE = "\ue001"

TEXT_FIELDS = ("query", "positive", "negative")
EDITABLE_FIELDS = ("instruction", "query", "positive", "negative")
QUALITY_COLUMNS = ("q_margin", "q_margin_flag", "q_dup_group", "q_dup_size", "q_length_ratio",
                   "q_length_flag", "q_language_flag", "q_empty_flag", "q_problems", "q_model", "q_at")

# Quality and shape flags a filter can ask for; all chosen ones must hold.
FLAGS = {
    "margin": ("negative scores ≥ positive", "e.q_margin_flag = 1"),
    "duplicate": ("in a near-duplicate group", "e.q_dup_group IS NOT NULL"),
    "duplicate_extra": ("near-duplicate, not the one kept", "e.q_dup_group IS NOT NULL AND e.q_dup_group != e.id"),
    "length": ("length misses num_words", "e.q_length_flag = 1"),
    "language": ("language mismatch", "e.q_language_flag = 1"),
    "empty": ("empty field", "e.q_empty_flag = 1"),
    "any_problem": ("any quality problem",
                    "(e.q_margin_flag = 1 OR e.q_length_flag = 1 OR e.q_language_flag = 1 OR e.q_empty_flag = 1"
                    " OR (e.q_dup_group IS NOT NULL AND e.q_dup_group != e.id))"),
    "unchecked": ("no quality signals yet", "e.q_at IS NULL"),
    "no_negative": ("no negative", "EXISTS (SELECT 1 FROM example_texts t WHERE t.id = e.id AND t.negative IS NULL)"),
    "mined": ("negative was mined", "e.negative_mined = 1"),
    "edited": ("edited by hand",
               "e.id IN (SELECT example_id FROM example_history WHERE action = 'edit')"),
    # Checks against a corpus (studio.corpus.checks, migration 25), each with its reason.
    **{name: (label, f"e.id IN (SELECT example_id FROM example_checks WHERE {name} = 1)") for name, label in (
        ("not_found", "positive not in the top k for its query (corpus)"),
        ("copied", "query copied from its passage"),
        ("wrong_language", "wrong language (corpus check)"),
        ("off_length", "query too long or too short (corpus check)"),
        ("false_negative", "negative judged relevant"))},
    "proposal": ("a proposal waits for a decision", "e.id IN (SELECT example_id FROM proposals WHERE state = 'open')"),
}

SORTS = {
    "newest": "e.id DESC",
    "oldest": "e.id ASC",
    "margin": "e.q_margin IS NULL, e.q_margin ASC, e.id DESC",
    "margin_desc": "e.q_margin IS NULL, e.q_margin DESC, e.id DESC",
    "duplicate_group": "e.q_dup_group IS NULL, e.q_dup_group ASC, e.id ASC",
    "length_ratio": "e.q_length_ratio IS NULL, e.q_length_ratio ASC, e.id DESC",
    "positive_length": "length(t.positive) ASC, e.id DESC",
    "positive_length_desc": "length(t.positive) DESC, e.id DESC",
    "query_length": "length(t.query) ASC, e.id DESC",
    "updated": "e.updated_at DESC, e.id DESC",
    "problems": "e.q_problems IS NULL, e.q_margin_flag DESC, e.q_language_flag DESC, e.q_empty_flag DESC,"
                " e.q_length_flag DESC, e.id DESC",
}

# Sorts by a quality signal that unchecked examples lack: the checked rows come first, read in
# order from a partial index on the signal (migration 23), then the unchecked ones by id.
NULLS_LAST_SORTS = {
    "margin": ("q_margin", "e.q_margin ASC, e.id DESC", "e.id DESC"),
    "margin_desc": ("q_margin", "e.q_margin DESC, e.id DESC", "e.id DESC"),
    "length_ratio": ("q_length_ratio", "e.q_length_ratio ASC, e.id DESC", "e.id DESC"),
    "duplicate_group": ("q_dup_group", "e.q_dup_group ASC, e.id ASC", "e.id ASC"),
}

MAX_PAGE_SIZE = 500


@dataclass
class ExampleFilter:
    """What a curator narrowed the examples down to. Empty fields do not filter."""

    status: str | None = None
    family: str | None = None
    language: str | None = None
    task_id: int | None = None
    template_version_id: int | None = None
    model: str | None = None
    source: str | None = None
    flags: tuple[str, ...] = ()
    length_field: str = "positive"
    min_chars: int | None = None
    max_chars: int | None = None
    search: str | None = None
    ids: tuple[int, ...] | None = None

    def to_dict(self) -> dict:
        data = {key: value for key, value in asdict(self).items() if value not in (None, (), [], "")}
        if "min_chars" not in data and "max_chars" not in data:
            data.pop("length_field", None)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()}

    @classmethod
    def from_dict(cls, data: dict | None) -> "ExampleFilter":
        data = dict(data or {})
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        for name in ("flags", "ids"):
            if known.get(name) is not None:
                known[name] = tuple(known[name])
        return cls(**known)


@dataclass
class Page:
    rows: list[dict]
    total: int
    offset: int
    limit: int


@dataclass
class ActionResult:
    action_id: int | None
    count: int
    description: str
    ids: list[int] = field(default_factory=list)


def fts_query(text: str) -> str | None:
    """A user's search words as a safe FTS5 query: every word must occur; `word*` is a prefix.
    A word in a script written without spaces (Chinese, Thai...) becomes a phrase of characters, as indexed."""
    terms = []
    for word in (text or "").split():
        prefix = word.endswith("*")
        word = search_text.for_index(word.rstrip("*")).replace('"', '""')
        if word:
            terms.append(f'"{word}"' + ("*" if prefix else ""))
    return " ".join(terms) or None


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def where_clause(flt: ExampleFilter, alias_search: bool = False) -> tuple[str, list]:
    """SQL condition over `e`, either `example_rows e` or `examples e` (the view); conditions on
    the texts look them up by id. With alias_search the caller joins the FTS table itself and the
    search becomes a MATCH on it; otherwise a rowid subquery."""
    parts, params = [], []
    if not _blank(flt.status):
        if flt.status not in STATUSES:
            raise StudioError(f"unknown status {flt.status!r}: use one of {', '.join(STATUSES)}")
        parts.append("e.status = ?")
        params.append(flt.status)
    for column in ("family", "language", "model", "source"):
        value = getattr(flt, column)
        if not _blank(value):
            parts.append(f"e.{column} = ?")
            params.append(value)
    for column in ("task_id", "template_version_id"):
        value = getattr(flt, column)
        if value is not None and value != "":
            parts.append(f"e.{column} = ?")
            params.append(int(value))
    for flag in flt.flags or ():
        if flag not in FLAGS:
            raise StudioError(f"unknown quality flag {flag!r}: use one of {', '.join(FLAGS)}")
        parts.append(FLAGS[flag][1])
    if flt.min_chars is not None or flt.max_chars is not None:
        if flt.length_field not in TEXT_FIELDS + ("instruction",):
            raise StudioError("the length filter works on query, positive, negative or instruction")
        length = f"length(COALESCE(t.{flt.length_field}, ''))"
        bounds = []
        if flt.min_chars is not None:
            bounds.append(f"{length} >= ?")
            params.append(int(flt.min_chars))
        if flt.max_chars is not None:
            bounds.append(f"{length} <= ?")
            params.append(int(flt.max_chars))
        parts.append(f"EXISTS (SELECT 1 FROM example_texts t WHERE t.id = e.id AND {' AND '.join(bounds)})")
    if flt.ids is not None:
        ids = [int(i) for i in flt.ids]
        parts.append("e.id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(ids))
    match = fts_query(flt.search) if flt.search else None
    if match:
        if alias_search:
            parts.append("examples_fts MATCH ?")
        else:
            parts.append("e.id IN (SELECT rowid FROM examples_fts WHERE examples_fts MATCH ?)")
        params.append(match)
    return (" AND ".join(parts) or "1"), params


def _run(db, sql: str, params: list):
    try:
        return db.execute(sql, params)
    except sqlite3.OperationalError as error:
        if "fts5" in str(error).lower() or "syntax" in str(error).lower():
            raise StudioError("the search text could not be understood: use plain words, optionally word*") from None
        raise


def count(db, flt: ExampleFilter, cap: int | None = None) -> int:
    """How many examples match; with `cap`, counting stops at cap + 1 (a common search word can
    match most of a million rows, and a page only needs to know that there are many)."""
    match = fts_query(flt.search or "")
    if match:
        rest, _ = where_clause(ExampleFilter.from_dict({**flt.to_dict(), "search": None}))
        if rest == "1":
            # A search alone: the FTS index can count without visiting the example rows.
            inner, params = "SELECT 1 FROM examples_fts WHERE examples_fts MATCH ?", [match]
        else:
            where, params = where_clause(flt, alias_search=True)
            # CROSS JOIN keeps the search as the outer loop: otherwise SQLite may walk 600k rows of a
            # status and probe the search index for each one.
            inner = f"SELECT 1 FROM examples_fts CROSS JOIN example_rows e ON e.id = examples_fts.rowid WHERE {where}"
    else:
        where, params = where_clause(flt)
        inner = f"SELECT 1 FROM example_rows e WHERE {where}"
    if cap is not None:
        return _run(db, f"SELECT COUNT(*) FROM ({inner} LIMIT ?)", params + [cap + 1]).fetchone()[0]
    return _run(db, f"SELECT COUNT(*) FROM ({inner})", params).fetchone()[0]


PAGE_COLUMNS = ("id", "family", "language", "status", "instruction", "query", "positive", "negative",
                "task_id", "template_version_id", "model", "source", "negative_mined", "placeholders",
                "created_at", "updated_at") + QUALITY_COLUMNS
_TEXT_COLUMNS = {"instruction", "query", "positive", "negative", "placeholders"}
_SELECTED = ", ".join(f"{'t' if name in _TEXT_COLUMNS else 'e'}.{name}" for name in PAGE_COLUMNS)
_WITH_TEXTS = "example_rows e LEFT JOIN example_texts t ON t.id = e.id"


def page(db, flt: ExampleFilter, sort: str = "newest", offset: int = 0, limit: int = 50,
         with_total: bool = True) -> Page:
    """One page of examples. With a search, query/positive/negative come back with their
    matches wrapped in MARK_OPEN/MARK_CLOSE (`*_marked` keys); the plain text stays as is.

    Without a search the page is found among the narrow rows first (ids only, so sorting never
    drags texts along) and then read in full."""
    if sort not in SORTS:
        raise StudioError(f"unknown sort {sort!r}: use one of {', '.join(SORTS)}")
    limit = max(1, min(int(limit), MAX_PAGE_SIZE))
    offset = max(0, int(offset))
    if fts_query(flt.search or ""):
        where, params = where_clause(flt, alias_search=True)
        marks = ", ".join(f"highlight(examples_fts, {i}, ?, ?) AS {name}_marked"
                          for i, name in enumerate(TEXT_FIELDS))
        order = SORTS[sort]
        if sort == "newest":
            order = "examples_fts.rowid DESC"  # lets FTS5 walk its doclist backwards and stop early
        sql = (f"SELECT {_SELECTED}, {marks} FROM examples_fts CROSS JOIN example_rows e ON e.id = examples_fts.rowid"
               f" LEFT JOIN example_texts t ON t.id = e.id WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?")
        cursor = _run(db, sql, [MARK_OPEN, MARK_CLOSE] * len(TEXT_FIELDS) + params + [limit, offset])
        names = [description[0] for description in cursor.description]
        rows = [dict(zip(names, row)) for row in cursor.fetchall()]
        for row in rows:  # highlight() returns the text as indexed
            for name in TEXT_FIELDS:
                row[f"{name}_marked"] = search_text.for_display(row[f"{name}_marked"])
    else:
        if sort in NULLS_LAST_SORTS:
            ids = _ids_nulls_last(db, flt, sort, offset, limit)
        else:
            where, params = where_clause(flt)
            source = _WITH_TEXTS if "length(t." in SORTS[sort] else "example_rows e"
            ids = [row[0] for row in _run(db, f"SELECT e.id FROM {source} WHERE {where} ORDER BY {SORTS[sort]}"
                                              " LIMIT ? OFFSET ?", params + [limit, offset])]
        rows = rows_by_id(db, ids)
    total = count(db, flt) if with_total else -1
    return Page(rows=rows, total=total, offset=offset, limit=limit)


def rows_by_id(db, ids: list[int]) -> list[dict]:
    """The page columns of these examples, in this order."""
    cursor = db.execute(f"SELECT {_SELECTED} FROM {_WITH_TEXTS} WHERE e.id IN (SELECT value FROM json_each(?))",
                        [json.dumps(ids)])
    names = [description[0] for description in cursor.description]
    found = {row[0]: dict(zip(names, row)) for row in cursor.fetchall()}
    return [found[example_id] for example_id in ids if example_id in found]


def _ids_nulls_last(db, flt: ExampleFilter, sort: str, offset: int, limit: int) -> list[int]:
    """A page sorted by a nullable quality signal, in the order SORTS[sort] defines, as two
    index-ordered reads: the checked rows, then (when the page reaches past them) the unchecked."""
    column, checked_order, unchecked_order = NULLS_LAST_SORTS[sort]
    where, params = where_clause(flt)

    def read(condition, order, count_, skip):
        return [row[0] for row in _run(db, f"SELECT e.id FROM example_rows e WHERE {where} AND {condition}"
                                           f" ORDER BY {order} LIMIT ? OFFSET ?", params + [count_, skip])]

    ids = read(f"e.{column} IS NOT NULL", checked_order, limit, offset)
    if len(ids) == limit:
        return ids
    if ids:
        checked = offset + len(ids)
    else:
        checked = _run(db, f"SELECT COUNT(*) FROM example_rows e WHERE {where} AND e.{column} IS NOT NULL",
                       params).fetchone()[0]
    return ids + read(f"e.{column} IS NULL", unchecked_order, limit - len(ids), max(0, offset - checked))


def loose_distinct(db, column: str) -> list:
    """DISTINCT values of an indexed column by hopping through its index (fast at any size)."""
    if column not in ("language", "model", "family", "template_version_id", "source"):
        raise ValueError(column)
    # `IS NOT NULL` lets SQLite use the partial indexes of migration 23.
    sql = (f"WITH RECURSIVE v(x) AS (SELECT MIN({column}) FROM example_rows WHERE {column} IS NOT NULL"
           f" UNION ALL SELECT (SELECT MIN({column}) FROM example_rows WHERE {column} > v.x) FROM v"
           f" WHERE v.x IS NOT NULL)"
           f" SELECT x FROM v WHERE x IS NOT NULL")
    return [row[0] for row in db.execute(sql).fetchall()]


# ---------------------------------------------------------------------------------------------
# Changes, each one an undoable action.

def _new_action(db, who: str, kind: str, description: str, flt: ExampleFilter | None) -> int:
    cursor = db.execute(
        "INSERT INTO curation_actions (at, who, kind, description, filter) VALUES (?, ?, ?, ?, ?)",
        [now(), who, kind, description, json.dumps(flt.to_dict(), ensure_ascii=False) if flt else None])
    return cursor.lastrowid


def _finish_action(db, action_id: int, count_: int) -> None:
    db.execute("UPDATE curation_actions SET count = ? WHERE id = ?", [count_, action_id])


def set_status(db, flt: ExampleFilter, status: str, who: str = "user", description: str | None = None) -> ActionResult:
    """Accept or reject (status) everything the filter matches, in one transaction."""
    if status not in STATUSES:
        raise StudioError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    verb = {"accepted": "accept", "rejected": "reject", "pending": "reset"}[status]
    where, params = where_clause(flt)
    stamp = now()
    with transaction(db):
        action_id = _new_action(db, who, verb, description or f"{verb} {describe(flt)}", flt)
        db.execute(
            "INSERT INTO example_history (example_id, at, who, action, before, after, action_id)"
            f" SELECT e.id, ?, ?, ?, json_object('status', e.status), json_object('status', ?), ?"
            f" FROM example_rows e WHERE {where} AND e.status != ?",
            [stamp, who, verb, status, action_id, *params, status])
        changed = db.execute(
            "UPDATE example_rows SET status = ?, updated_at = ?"
            " WHERE id IN (SELECT example_id FROM example_history WHERE action_id = ?)",
            [status, stamp, action_id]).rowcount
        _finish_action(db, action_id, changed)
    return ActionResult(action_id, changed, f"{verb}ed {changed} example{'s' if changed != 1 else ''}")


def _all_columns(db) -> list[str]:
    return [row[1] for row in db.execute("PRAGMA table_info(examples)").fetchall()]


def content_clash(db, content: str, norm: str, example_id: int | None = None) -> int | None:
    """The id of another example with exactly this content, if any (found through the indexed
    norm_key: equal content means equal normalised text)."""
    found = db.execute(
        "SELECT r.id FROM example_rows r JOIN example_texts t ON t.id = r.id"
        " WHERE r.norm_key = ? AND t.content_hash = ? AND r.id IS NOT ? LIMIT 1",
        [norm_key(norm), content, example_id]).fetchone()
    return found[0] if found else None


def delete(db, flt: ExampleFilter, who: str = "user") -> ActionResult:
    """Delete everything the filter matches; the whole rows are kept in history for undo."""
    columns = _all_columns(db)
    # the example's link to the corpus passage it was written from goes with it (and comes back on undo)
    link = ("json((SELECT json_object('corpus_id', ep.corpus_id, 'passage_id', ep.passage_id, 'negative_passage_id',"
            " ep.negative_passage_id, 'positive_score', ep.positive_score, 'negative_score', ep.negative_score)"
            " FROM example_passages ep WHERE ep.example_id = e.id))")
    row_json = ("json_object(" + ", ".join(f"'{name}', e.{name}" for name in columns)
                + f", '{PASSAGE_LINK}', {link})")
    where, params = where_clause(flt)
    stamp = now()
    with transaction(db):
        action_id = _new_action(db, who, "delete", f"delete {describe(flt)}", flt)
        db.execute(
            "INSERT INTO example_history (example_id, at, who, action, before, after, action_id)"
            f" SELECT e.id, ?, ?, 'delete', {row_json}, NULL, ? FROM examples e WHERE {where}",
            [stamp, who, action_id, *params])
        db.execute("DELETE FROM example_texts WHERE id IN (SELECT example_id FROM example_history WHERE action_id = ?)",
                   [action_id])
        removed = db.execute(
            "DELETE FROM example_rows WHERE id IN (SELECT example_id FROM example_history WHERE action_id = ?)",
            [action_id]).rowcount
        _finish_action(db, action_id, removed)
    return ActionResult(action_id, removed, f"deleted {removed} example{'s' if removed != 1 else ''}")


def edit(db, example_id: int, changes: dict, who: str = "user", status: str | None = None,
         kind: str = "edit", action_id: int | None = None) -> ActionResult:
    """Change the texts (and optionally the status) of one example, keeping the old version.

    The hashes follow the new text; quality signals computed from the old text are cleared.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS) - {"negative_mined"}
    if unknown:
        raise StudioError(f"only {', '.join(EDITABLE_FIELDS)} can be edited, not {', '.join(sorted(unknown))}")
    with transaction(db):
        rows = list(db.query("SELECT * FROM examples WHERE id = ?", [example_id]))
        if not rows:
            raise StudioError(f"example {example_id} does not exist (it may have been deleted); refresh the table")
        old = rows[0]
        new = dict(old)
        for name, value in changes.items():
            new[name] = value
        for name in ("query", "positive"):
            if _blank(new[name]):
                raise StudioError(f"the {name} cannot be empty: write some text or reject the example")
        if no_negative(new.get("negative")):
            new["negative"] = None
        new["instruction"] = new.get("instruction") or ""
        if status is not None:
            if status not in STATUSES:
                raise StudioError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
            new["status"] = status
        texts = [new[name] for name in ("instruction", "query", "positive", "negative")]
        new["content_hash"], new["norm_hash"] = content_hash(*texts), norm_hash(*texts)
        text_changed = any(new[name] != old[name] for name in EDITABLE_FIELDS)
        if text_changed:
            for name in QUALITY_COLUMNS:
                new[name] = None
        tracked = [name for name in list(EDITABLE_FIELDS) + ["negative_mined", "status", "content_hash",
                                                              "norm_hash", *QUALITY_COLUMNS]
                   if new.get(name) != old.get(name)]
        if not tracked:
            return ActionResult(None, 0, "nothing changed")
        clash = content_clash(db, new["content_hash"], new["norm_hash"], example_id)
        if clash:
            raise StudioError(f"this edit makes the example identical to example {clash}; "
                              "change it further or reject one of them")
        own_action = action_id is None
        if own_action:
            what = "edit" if text_changed else {"accepted": "accept", "rejected": "reject"}.get(new["status"], "reset")
            action_id = _new_action(db, who, what, f"{what} example {example_id}",
                                    ExampleFilter(ids=(example_id,)))
        stamp = now()
        before = {name: old[name] for name in tracked}
        after = {name: new[name] for name in tracked}
        db.execute(
            "INSERT INTO example_history (example_id, at, who, action, before, after, action_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [example_id, stamp, who, kind if text_changed else "status", json.dumps(before, ensure_ascii=False),
             json.dumps(after, ensure_ascii=False), action_id])
        row_columns, text_columns = split_columns(db)
        for_rows = [name for name in tracked if name in row_columns]
        if "norm_hash" in tracked:
            for_rows.append("norm_key")
            new["norm_key"] = norm_key(new["norm_hash"])
        assignments = "".join(f"{name} = ?, " for name in for_rows)
        db.execute(f"UPDATE example_rows SET {assignments}updated_at = ? WHERE id = ?",
                   [new[name] for name in for_rows] + [stamp, example_id])
        for_texts = [name for name in tracked if name in text_columns]
        if for_texts:
            db.execute(f"UPDATE example_texts SET {', '.join(f'{name} = ?' for name in for_texts)} WHERE id = ?",
                       [new[name] for name in for_texts] + [example_id])
        if own_action:
            _finish_action(db, action_id, 1)
    return ActionResult(action_id, 1, f"saved example {example_id}", [example_id])


def begin_action(db, who: str, kind: str, description: str) -> int:
    """For a job that changes many examples one by one (mining): open an action to attach them to."""
    with transaction(db):
        return _new_action(db, who, kind, description, None)


def finish_action(db, action_id: int) -> int:
    with transaction(db):
        changed = db.execute("SELECT COUNT(*) FROM example_history WHERE action_id = ?", [action_id]).fetchone()[0]
        _finish_action(db, action_id, changed)
    return changed


def last_action(db) -> dict | None:
    rows = list(db.query("SELECT * FROM curation_actions WHERE undone_at IS NULL AND kind != 'undo'"
                         " ORDER BY id DESC LIMIT 1"))
    return rows[0] if rows else None


def undo_last(db, who: str = "user") -> ActionResult:
    """Put back what the newest not-yet-undone action changed (all of its examples at once)."""
    with transaction(db):
        action = last_action(db)
        if action is None:
            raise StudioError("there is nothing to undo")
        aid = action["id"]
        undo_id = _new_action(db, who, "undo", f"undo: {action['description']}", None)
        stamp = now()
        # The undo is history too: its before/after are the action's after/before.
        db.execute(
            "INSERT INTO example_history (example_id, at, who, action, before, after, action_id)"
            " SELECT example_id, ?, ?, 'undo', after, before, ? FROM example_history WHERE action_id = ?",
            [stamp, who, undo_id, aid])
        row_columns, text_columns = split_columns(db)
        if action["kind"] == "delete":
            restored = _restore_deleted(db, aid, row_columns, text_columns)
        else:
            restored = _restore_changed(db, aid, stamp, row_columns, text_columns)
        db.execute("UPDATE curation_actions SET undone_at = ?, undone_by = ? WHERE id = ?", [stamp, who, aid])
        _finish_action(db, undo_id, restored)
    return ActionResult(undo_id, restored, f"undid “{action['description']}” ({restored} example"
                                           f"{'s' if restored != 1 else ''})")


PASSAGE_LINK = "passage_link"   # the example_passages row of a deleted example, in its history row


def _before(name: str) -> str:
    return f"json_extract(h.before, '$.{name}')"


def _restore_deleted(db, aid: int, row_columns: list[str], text_columns: list[str]) -> int:
    """Put deleted examples back from their history rows, except where the id is taken again or the
    same content exists again (an import after the delete)."""
    db.execute("DROP TABLE IF EXISTS temp.undo_ids")
    db.execute("CREATE TEMP TABLE undo_ids (id INTEGER PRIMARY KEY, history_id INTEGER NOT NULL)")
    db.execute(
        "INSERT OR IGNORE INTO temp.undo_ids (id, history_id) SELECT h.example_id, h.id FROM example_history h"
        " WHERE h.action_id = ? AND h.example_id NOT IN (SELECT id FROM example_rows)"
        " AND NOT EXISTS (SELECT 1 FROM example_rows r JOIN example_texts t ON t.id = r.id"
        f"  WHERE r.norm_key = {norm_key_sql(_before('norm_hash'))} AND t.content_hash = {_before('content_hash')})"
        " ORDER BY h.example_id", [aid])
    rows = [name for name in row_columns if name != "norm_key"]
    db.execute(
        f"INSERT INTO example_rows ({', '.join(rows)}, norm_key)"
        f" SELECT {', '.join(_before(name) for name in rows)}, {norm_key_sql(_before('norm_hash'))}"
        " FROM temp.undo_ids u JOIN example_history h ON h.id = u.history_id ORDER BY u.id")
    restored = db.execute(
        f"INSERT INTO example_texts ({', '.join(text_columns)})"
        f" SELECT {', '.join(_before(name) for name in text_columns)}"
        " FROM temp.undo_ids u JOIN example_history h ON h.id = u.history_id ORDER BY u.id").rowcount
    link = f"{PASSAGE_LINK}."
    passage = "(SELECT id FROM passages WHERE id = {})"   # a passage removed since is no longer linked
    db.execute(
        "INSERT INTO example_passages (example_id, corpus_id, passage_id, negative_passage_id, positive_score,"
        f" negative_score) SELECT u.id, {_before(link + 'corpus_id')}, {passage.format(_before(link + 'passage_id'))},"
        f" {passage.format(_before(link + 'negative_passage_id'))}, {_before(link + 'positive_score')},"
        f" {_before(link + 'negative_score')} FROM temp.undo_ids u JOIN example_history h ON h.id = u.history_id"
        f" WHERE {_before(link + 'corpus_id')} IN (SELECT id FROM corpora)")
    db.execute("DROP TABLE temp.undo_ids")
    return restored


def _restore_changed(db, aid: int, stamp: str, row_columns: list[str], text_columns: list[str]) -> int:
    """Set the fields an action changed back to their `before` values."""
    keys = [row[0] for row in db.execute(
        "SELECT DISTINCT j.key FROM example_history h, json_each(h.before) j WHERE h.action_id = ?",
        [aid]).fetchall() if row[0] != "id"]

    def sets(table, names):
        return [f"{key} = CASE WHEN json_type(h.before, '$.{key}') IS NULL THEN {table}.{key}"
                f" ELSE {_before(key)} END" for key in names]

    for_rows = sets("example_rows", [key for key in keys if key in row_columns and key != "norm_key"])
    if "norm_hash" in keys:
        for_rows.append(f"norm_key = CASE WHEN json_type(h.before, '$.norm_hash') IS NULL THEN example_rows.norm_key"
                        f" ELSE {norm_key_sql(_before('norm_hash'))} END")
    restored = db.execute(
        f"UPDATE example_rows SET {''.join(part + ', ' for part in for_rows)}updated_at = ? FROM example_history h"
        " WHERE h.action_id = ? AND h.example_id = example_rows.id", [stamp, aid]).rowcount
    for_texts = sets("example_texts", [key for key in keys if key in text_columns])
    if for_texts:
        db.execute(f"UPDATE example_texts SET {', '.join(for_texts)} FROM example_history h"
                   " WHERE h.action_id = ? AND h.example_id = example_texts.id", [aid])
    if "content_hash" in keys:
        clash = db.execute(
            "SELECT 1 FROM example_history h JOIN example_rows a ON a.id = h.example_id"
            " JOIN example_texts ta ON ta.id = a.id"
            " JOIN example_rows b ON b.norm_key = a.norm_key AND b.id != a.id"
            " JOIN example_texts tb ON tb.id = b.id AND tb.content_hash = ta.content_hash"
            " WHERE h.action_id = ? LIMIT 1", [aid]).fetchone()
        if clash:
            raise StudioError("undo would make an example identical to another one; edit or delete that one first")
    return restored


def history(db, example_id: int) -> list[dict]:
    rows = db.query("SELECT id, at, who, action, before, after, action_id FROM example_history"
                    " WHERE example_id = ? ORDER BY id", [example_id])
    return [{**row, "before": json.loads(row["before"]) if row["before"] else None,
             "after": json.loads(row["after"]) if row["after"] else None} for row in rows]


def recent_actions(db, limit: int = 10) -> list[dict]:
    return list(db.query("SELECT * FROM curation_actions ORDER BY id DESC LIMIT ?", [limit]))


def describe(flt: ExampleFilter) -> str:
    parts = []
    if flt.ids is not None:
        return f"example{'s' if len(flt.ids) != 1 else ''} {', '.join(str(i) for i in flt.ids[:5])}" + (
            "…" if len(flt.ids) > 5 else "")
    for name in ("status", "family", "language", "model", "source", "task_id", "template_version_id"):
        value = getattr(flt, name)
        if not _blank(value):
            parts.append(f"{name}={value}")
    if flt.flags:
        parts.append("flags=" + "+".join(flt.flags))
    if flt.min_chars is not None or flt.max_chars is not None:
        parts.append(f"{flt.length_field} length {flt.min_chars or 0}–{flt.max_chars or '∞'}")
    if flt.search:
        parts.append(f"search “{flt.search}”")
    return "all examples" if not parts else "examples where " + ", ".join(parts)

