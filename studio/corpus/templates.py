"""The corpus features' prompt templates as stored, versioned templates (table template_versions,
family "corpus"), edited in the Templates tab like the six families'.

Four templates, each with its placeholders (the defaults are in prompts/corpus.yaml):
- generate: the queries of one passage (grounded generation): with {{ query_type }} one query per
  request, read as plain text; with {{ k }} all of a passage's queries in one JSON reply;
- summary: a passage's summary, asked first when a grounded job summarises (then in {{ summary }});
- brainstorm: the task a corpus serves, from a few of its passages;
- judge: grades of retrieved passages for a query (`check --judge`).
"""

import yaml

from storage import templates as rows
from studio.config import PROMPTS_DIR
from studio.errors import StudioError
from studio.prompts.templates import TemplateError, _compile, render

FAMILY = "corpus"
# name → (kind, variant) in template_versions, the placeholders it may use, and those it must use.
TEMPLATES = {
    "generate": ("generate", "queries", {"task", "title", "passage", "summary", "query_type", "k", "query_types",
                                         "language"}, {"passage"}),
    "summary": ("generate", "summary", {"title", "passage", "language"}, {"passage"}),
    "brainstorm": ("brainstorm", rows.BRAINSTORM_VARIANT, {"passages"}, {"passages"}),
    "judge": ("generate", "judge", {"query", "instruction", "passages", "count"}, {"query", "passages"}),
}
SAMPLE_TEXT = ("The moon's pull raises the oceans on the side of the Earth facing it and on the far side, "
               "so most coasts see two high tides a day.")


def _spec(name: str):
    if name not in TEMPLATES:
        raise StudioError(f"unknown corpus template '{name}': use one of {', '.join(TEMPLATES)}")
    return TEMPLATES[name]


def default_body(name: str) -> str:
    return yaml.safe_load((PROMPTS_DIR / "corpus.yaml").read_text(encoding="utf-8"))[name]


def _ensure(db, name: str) -> None:
    """Store the bundled default when the database has none; an active version that is a bundled default
    nobody edited follows the bundled file when that changes."""
    kind, variant, _, _ = _spec(name)
    body = default_body(name)
    rows.ensure_defaults(db, FAMILY, kind, {variant: body})
    row = next((row for row in rows.active_rows(db, FAMILY, kind) if row["variant"] == variant), None)
    if row and row["source"] == "default" and row["body"].rstrip() != body.rstrip():
        rows.store_version(db, FAMILY, kind, variant, body, "default", "the bundled default changed")


def active(db, name: str) -> dict:
    """The active version's row (id, body, version...)."""
    _ensure(db, name)
    kind, variant, _, _ = _spec(name)
    return next(row for row in rows.active_rows(db, FAMILY, kind) if row["variant"] == variant)


def history(db, name: str) -> list[dict]:
    _ensure(db, name)
    kind, variant, _, _ = _spec(name)
    return rows.version_rows(db, FAMILY, kind, variant)


def validate(name: str, body: str) -> None:
    """TemplateError (one line) when the text is unsafe, uses an unknown placeholder or misses a needed one."""
    _, _, allowed, needed = _spec(name)
    if not (body or "").strip():
        raise TemplateError("the template is empty")
    _, used = _compile(body)
    unknown = sorted(used - allowed)
    if unknown:
        raise TemplateError(f"unknown placeholder {', '.join(unknown)}: the {name} template may use "
                            f"{', '.join(sorted(allowed))}")
    missing = sorted(needed - used)
    if missing:
        raise TemplateError(f"the {name} template must use {', '.join('{{ ' + m + ' }}' for m in missing)}")
    if name == "generate" and len(used & {"query_type", "k"}) != 1:
        raise TemplateError("the generate template must use either {{ query_type }} (one query per request) or "
                            "{{ k }} (all of a passage's queries in one JSON reply), not both or neither")


def one_query_per_request(body: str) -> bool:
    """Whether a generate template asks for one query of {{ query_type }} (else K queries at once)."""
    return "query_type" in _compile(body)[1]


def save(db, name: str, body: str, note: str | None = None) -> dict:
    validate(name, body)
    _ensure(db, name)
    kind, variant, _, _ = _spec(name)
    return rows.store_version(db, FAMILY, kind, variant, body, "user", note)


def reset(db, name: str) -> dict:
    _ensure(db, name)
    kind, variant, _, _ = _spec(name)
    return rows.store_version(db, FAMILY, kind, variant, default_body(name), "reset", "back to the bundled default")


def sample_passage(db) -> dict:
    """A real passage of the newest corpus, or a sample text when there is none."""
    row = db.execute("SELECT title, text FROM passages ORDER BY corpus_id DESC, id LIMIT 1").fetchone()
    return {"title": row[0], "text": row[1]} if row else {"title": "Tides", "text": SAMPLE_TEXT}


def preview(db, name: str, body: str) -> str:
    """The text `body` would send, filled with a real passage of the newest corpus."""
    validate(name, body)
    passage = sample_passage(db)
    numbered = f"[1] ({passage['title']}) {' '.join(passage['text'].split())}"
    values = {
        "generate": {"task": "Given a question, retrieve the passage that answers it", "title": passage["title"],
                     "passage": passage["text"], "summary": "", "query_type": "a question", "k": 2,
                     "query_types": "1. a question\n2. a keyword search",
                     "language": "English"},
        "summary": {"title": passage["title"], "passage": passage["text"], "language": "English"},
        "brainstorm": {"passages": numbered},
        "judge": {"query": "why are there two tides a day", "instruction": "Given a question, retrieve the answer",
                  "passages": numbered, "count": 1},
    }[name]
    return render(body, values)
