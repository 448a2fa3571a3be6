"""What the Curate tab shows, computed on the server: one page of the table, one example in full.

Only the rows of the current page ever leave the server. Texts are HTML-escaped here and search
matches become <mark> elements, so the browser renders them without running anything.
"""

import html
import json
import threading
from dataclasses import dataclass

from storage import curation, search_backlog
from storage.curation import FLAGS, MARK_CLOSE, MARK_OPEN, SORTS, ExampleFilter
from storage.db import open_db
from studio.errors import StudioError
from studio.prompts.families import FAMILIES

HEADERS = ["id", "status", "family", "language", "query", "positive", "negative", "margin", "problems"]
DATATYPES = ["number", "str", "str", "str", "html", "html", "html", "number", "str"]
CELL_CHARS = {"query": 140, "positive": 180, "negative": 130}
DEFAULT_PAGE_SIZE = 25
ALL = "all"
SEARCH_COUNT_CAP = 10_000   # searches count their matches up to here; bulk actions count exactly

_local = threading.local()


def db_for(db_path):
    """One connection per thread and database file (Gradio runs handlers on a thread pool)."""
    cache = getattr(_local, "dbs", None)
    if cache is None:
        cache = _local.dbs = {}
    key = str(db_path)
    if key not in cache:
        cache[key] = open_db(db_path)
    return cache[key]


def marked_html(text: str | None, max_chars: int | None = None) -> str:
    """Escape text for HTML and turn the search markers into <mark>; cut to an excerpt around the
    first match when it is long."""
    if text is None:
        return "<i>none</i>"
    if max_chars and len(text) > max_chars:
        first = text.find(MARK_OPEN)
        start = max(0, first - max_chars // 3) if first > max_chars // 2 else 0
        cut = text[start:start + max_chars]
        # Keep the markers balanced after cutting.
        if cut.count(MARK_OPEN) > cut.count(MARK_CLOSE):
            cut += MARK_CLOSE
        if cut.find(MARK_CLOSE) != -1 and (cut.find(MARK_OPEN) == -1 or cut.find(MARK_CLOSE) < cut.find(MARK_OPEN)):
            cut = MARK_OPEN + cut
        text = ("…" if start else "") + cut + ("…" if start + max_chars < len(text) else "")
    escaped = html.escape(text).replace("\n", " ⏎ ")
    return escaped.replace(MARK_OPEN, "<mark>").replace(MARK_CLOSE, "</mark>")


def _cell(row: dict, name: str) -> str:
    marked = row.get(f"{name}_marked")
    return marked_html(marked if marked is not None and row[name] is not None else row[name], CELL_CHARS[name])


def table_rows(rows: list[dict]) -> list[list]:
    out = []
    for row in rows:
        margin = row["q_margin"]
        out.append([row["id"], row["status"], row["family"], row["language"], _cell(row, "query"),
                    _cell(row, "positive"), _cell(row, "negative"),
                    round(margin, 3) if margin is not None else None, row["q_problems"] or ""])
    return out


@dataclass
class TableView:
    rows: list[list]
    ids: list[int]
    total: int
    page: int          # 0-based
    pages: int
    page_size: int
    filter: dict
    capped: bool = False   # the total is a lower bound (search with very many matches)
    indexing: int = 0      # newest examples the search index has not taken in yet

    def caption(self) -> str:
        return self._counts() + self._indexing_note()

    @property
    def store_is_empty(self) -> bool | None:
        """Whether the store holds no example at all; None when a filter is applied (then an empty
        page says nothing about the store, and the empty state stays as it was)."""
        return None if self.filter else self.total == 0

    def _counts(self) -> str:
        if self.total == 0:
            return "No examples match these filters."
        first = self.page * self.page_size + 1
        last = first + len(self.rows) - 1
        if self.capped:
            return (f"Examples {first:,}–{last:,} of **more than {SEARCH_COUNT_CAP:,}** matching · page "
                    f"{self.page + 1:,} (add words or filters to narrow the search)")
        return f"Examples {first:,}–{last:,} of **{self.total:,}** matching · page {self.page + 1:,} of {self.pages:,}"

    def _indexing_note(self) -> str:
        if not self.indexing:
            return ""
        return (f"  \n*Indexing {self.indexing:,} newly added examples for search…* Search does not find them"
                " yet; every other filter does. Refresh in a moment.")


def build_filter(status=ALL, family=ALL, language=ALL, model=ALL, template_version_id=None, task_id=None,
                 flags=(), length_field="positive", min_chars=None, max_chars=None, search="") -> ExampleFilter:
    """A filter from the tab's controls ("all" and blanks mean no filter)."""
    def pick(value):
        return None if value in (None, "", ALL) else value

    def number(value):
        text = str(value).strip() if value is not None else ""
        if not text:
            return None
        if not text.isdigit():
            raise StudioError(f"{text!r} is not a whole number: type digits only, or leave the box empty")
        return int(text)

    flag_keys = tuple(flag_from_label(flag) for flag in (flags or ()))
    return ExampleFilter(status=pick(status), family=pick(family), language=pick(language), model=pick(model),
                         template_version_id=number(template_version_id), task_id=number(task_id),
                         flags=flag_keys, length_field=length_field or "positive",
                         min_chars=number(min_chars), max_chars=number(max_chars), search=(search or "").strip() or None)


def flag_choices() -> list[str]:
    return [label for label, _ in FLAGS.values()]


def flag_from_label(label: str) -> str:
    for key, (text, _) in FLAGS.items():
        if label in (key, text):
            return key
    return label  # unknown: the store refuses it with a clear message


SORT_LABELS = {
    "newest": "newest first", "oldest": "oldest first", "margin": "margin, lowest first",
    "margin_desc": "margin, highest first", "duplicate_group": "near-duplicate groups together",
    "length_ratio": "length vs num_words, shortest first", "positive_length": "positive length, shortest first",
    "positive_length_desc": "positive length, longest first", "query_length": "query length, shortest first",
    "updated": "recently changed first", "problems": "quality problems first",
}
assert set(SORT_LABELS) == set(SORTS)


def sort_key(label: str) -> str:
    for key, text in SORT_LABELS.items():
        if label in (key, text):
            return key
    return label


def table_view(db, flt: ExampleFilter, sort: str = "newest", page: int = 0,
               page_size: int = DEFAULT_PAGE_SIZE) -> TableView:
    page_size = max(5, min(int(page_size or DEFAULT_PAGE_SIZE), 200))
    cap = SEARCH_COUNT_CAP if flt.search else None
    total = curation.count(db, flt, cap=cap)
    capped = cap is not None and total > cap
    pages = max(1, -(-total // page_size))
    page = max(0, min(int(page or 0), pages - 1))
    result = curation.page(db, flt, sort=sort_key(sort), offset=page * page_size, limit=page_size, with_total=False)
    indexing = search_backlog.waiting(db)
    if indexing:
        search_backlog.start_indexer(db)  # no-op while one runs; resumes a backlog a stopped process left
    return TableView(rows=table_rows(result.rows), ids=[row["id"] for row in result.rows], total=total, page=page,
                     pages=pages, page_size=page_size, filter=flt.to_dict(), capped=capped, indexing=indexing)


PAGE_TURNS = {"first": lambda page: 0, "previous": lambda page: int(page or 0) - 1,
              "next": lambda page: int(page or 0) + 1}


def turn_page(db, flt: ExampleFilter, sort: str, page, page_size, turn: str) -> TableView:
    """The first, previous or next page from `page` (0-based); table_view keeps it in range."""
    return table_view(db, flt, sort, PAGE_TURNS[turn](page), page_size)


def page_numbered(db, flt: ExampleFilter, sort: str, number, page_size) -> TableView:
    """The page a person typed, counted from 1."""
    return table_view(db, flt, sort, int(number or 1) - 1, page_size)


@dataclass
class Move:
    """Where the editor goes next: the example to open and the table page to show.

    open_id None: the editor stays as it is; view None: the table stays as it is. note says why
    nothing moved (at either end of the list)."""
    open_id: int | None
    view: TableView | None
    note: str = ""


def neighbour(db, current, ids, flt: ExampleFilter, sort: str, page, page_size, direction: int) -> Move:
    """The open example's neighbour in the table (direction +1 or -1), across page edges."""
    ids = list(ids or [])
    if current in ids:
        index = ids.index(current) + direction
    else:
        index = 0 if direction > 0 else len(ids) - 1
    if 0 <= index < len(ids):
        return Move(ids[index], None)
    next_page = int(page or 0) + direction
    if next_page < 0:
        return Move(None, None, "This is the first example.")
    view = table_view(db, flt, sort, next_page, page_size)
    if view.page != next_page or not view.ids:
        return Move(None, None, "This is the last example.")
    return Move(view.ids[0] if direction > 0 else view.ids[-1], view)


def after_decision(db, current: int, old_ids, flt: ExampleFilter, sort: str, page, page_size) -> Move:
    """The table to show and the example to open after deciding one: the next row of the page as
    it was; at the page's end, a row that moved up into it (when the filter dropped decided rows)
    or the next page's first, and then the table turns to that page, so the following decision
    continues from there instead of finding the same example again."""
    view = table_view(db, flt, sort, page, page_size)
    old_ids = list(old_ids or [])
    if current in old_ids and old_ids.index(current) + 1 < len(old_ids):
        return Move(old_ids[old_ids.index(current) + 1], view)
    fresh = [example_id for example_id in view.ids if example_id not in old_ids]
    if fresh:
        return Move(fresh[0], view)
    following = table_view(db, flt, sort, int(page or 0) + 1, page_size)
    if following.page == int(page or 0) + 1 and following.ids:
        return Move(following.ids[0], following)
    return Move(current, view)


@dataclass
class FilterChoices:
    families: list[str]
    languages: list[str]
    models: list[str]
    store_total: int


def stored_choices(db) -> tuple[list[str], list[str]]:
    """The language and model filters' choices: what the store holds now (an index hop per value)."""
    return [ALL, *curation.loose_distinct(db, "language")], [ALL, *curation.loose_distinct(db, "model")]


def filter_choices(db) -> FilterChoices:
    total = db.execute("SELECT COUNT(*) FROM examples").fetchone()[0]
    languages, models = stored_choices(db)
    return FilterChoices(families=[ALL, *FAMILIES], languages=languages, models=models, store_total=total)


def first_page(db_path, page_size: int = DEFAULT_PAGE_SIZE) -> tuple[FilterChoices, TableView]:
    """What the tab renders when it opens: the filter choices and the newest examples."""
    db = db_for(db_path)
    return filter_choices(db), table_view(db, ExampleFilter(), "newest", 0, page_size)


def example_detail(db, example_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM examples WHERE id = ?", [int(example_id)]))
    if not rows:
        return None
    row = rows[0]
    placeholders = {}
    if row["placeholders"]:
        try:
            placeholders = json.loads(row["placeholders"])
        except ValueError:
            placeholders = {"raw": row["placeholders"]}
    quality = {name: row[name] for name in curation.QUALITY_COLUMNS if row.get(name) is not None}
    return {"row": row, "placeholders": placeholders, "quality": quality,
            "history": curation.history(db, row["id"])}


def describe_example(detail: dict) -> str:
    """Markdown of an example's provenance and quality signals, for the editor's side panel."""
    row = detail["row"]
    lines = [f"**Example {row['id']}** · {row['status']} · {row['family']} · {row['language']}",
             f"source {row['source']} · model {row['model'] or '—'} · template version "
             f"{row['template_version_id'] or '—'} · task {row['task_id'] or '—'}"
             + (" · **negative mined**" if row["negative_mined"] else "")]
    if detail["placeholders"]:
        lines.append("placeholders: " + ", ".join(f"{k}={v}" for k, v in detail["placeholders"].items()))
    quality = detail["quality"]
    if quality:
        parts = []
        if "q_margin" in quality:
            parts.append(f"margin {quality['q_margin']:+.3f}")
        if quality.get("q_dup_group"):
            parts.append(f"near-duplicate group of {quality.get('q_dup_size')} (keeps {quality['q_dup_group']})")
        if "q_length_ratio" in quality:
            parts.append(f"length {quality['q_length_ratio']:.0%} of num_words")
        lines.append("quality: " + (", ".join(parts) or "checked") + (
            f" — ⚠ {quality['q_problems']}" if quality.get("q_problems") else " — no problems found"))
    else:
        lines.append("quality: not checked yet (run the quality job below)")
    return "  \n".join(html.escape(line, quote=False) for line in lines)


def history_rows(detail: dict) -> list[list]:
    rows = []
    for entry in reversed(detail["history"]):
        changed = sorted(set(entry["before"] or {}) | set(entry["after"] or {}))
        shown = [name for name in changed if name not in ("content_hash", "norm_hash") and not name.startswith("q_")]

        def short(side):
            values = entry[side] or {}
            return "; ".join(f"{name}: {str(values.get(name))[:60]}" for name in shown)
        rows.append([entry["at"][:19].replace("T", " "), entry["who"], entry["action"], short("before"),
                     short("after")])
    return rows
