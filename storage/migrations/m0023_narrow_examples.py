"""Split examples into a narrow row table and a table of texts; `examples` becomes a view over both.

A million examples of ~1.5 kB each made `examples` about 2 GB, two rows to a page. A bulk accept
of 100k rows then rewrote ~50k pages (200 MB through the WAL) just to change a status. Now the
columns people filter, sort and change (status, family, quality signals, ...) live in
`example_rows` (~150 bytes a row) and the texts in `example_texts`, written once and read by id.

`examples` stays as a view with the old columns in the old order, so every reader keeps working;
INSTEAD OF triggers route writes to the two tables. The search index keeps its rowids (the ids do
not change) and now reads its external content through the view.

The two 64-character hex hashes leave the indexes: the exact and the normalised hash are kept
with the texts, and `example_rows.norm_key` (the first 60 bits of the normalised hash) is the
indexed duplicate key, a quarter of the size. Exact-duplicate refusal, which the UNIQUE index on
content_hash used to do, is done by the code that writes (storage.examples, storage.curation).

Frozen: this file holds the statements it ran, the view and its triggers included, as they were
for the columns of migrations 1-22. Later migrations that add a column recreate the view
themselves (storage.examples.create_examples_view is today's code, not this migration's).
"""


def _norm_key(expression: str) -> str:
    """The first 15 hex digits of a 64-digit hash as an integer, in SQL."""
    return "(" + " + ".join(f"(instr('0123456789abcdef', substr({expression}, {i + 1}, 1)) - 1) * {16 ** (14 - i)}"
                            for i in range(15)) + ")"

ROW_TABLE = """CREATE TABLE example_rows (
    id INTEGER PRIMARY KEY,
    family TEXT NOT NULL,
    language TEXT NOT NULL DEFAULT 'English',
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
    task_id INTEGER REFERENCES tasks (id),
    template_version_id INTEGER REFERENCES template_versions (id),
    model TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cost REAL,
    job_id INTEGER,
    source TEXT NOT NULL DEFAULT 'generated',
    negative_mined INTEGER NOT NULL DEFAULT 0,
    norm_key INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    q_margin REAL,
    q_margin_flag INTEGER,
    q_dup_group INTEGER,
    q_dup_size INTEGER,
    q_length_ratio REAL,
    q_length_flag INTEGER,
    q_script_flag INTEGER,
    q_empty_flag INTEGER,
    q_problems TEXT,
    q_model TEXT,
    q_at TEXT
)"""

TEXT_TABLE = """CREATE TABLE example_texts (
    id INTEGER PRIMARY KEY,
    instruction TEXT NOT NULL DEFAULT '',
    query TEXT NOT NULL,
    positive TEXT NOT NULL,
    negative TEXT,
    placeholders TEXT,
    raw_response TEXT,
    content_hash TEXT NOT NULL,
    norm_hash TEXT NOT NULL
)"""

ROW_COLUMNS = ["id", "family", "language", "status", "task_id", "template_version_id", "model", "prompt_tokens",
               "completion_tokens", "cost", "job_id", "source", "negative_mined", "created_at", "updated_at",
               "q_margin", "q_margin_flag", "q_dup_group", "q_dup_size", "q_length_ratio", "q_length_flag",
               "q_script_flag", "q_empty_flag", "q_problems", "q_model", "q_at"]
TEXT_COLUMNS = ["id", "instruction", "query", "positive", "negative", "placeholders", "raw_response",
                "content_hash", "norm_hash"]

# Every index costs each insert a B-tree descent, so columns that are mostly NULL (imported examples
# have no task, template or job; new ones no duplicate group or margin) are indexed only where set:
# `task_id = ?` implies `task_id IS NOT NULL`, so SQLite still uses them for lookups.
INDEXES = [
    "CREATE INDEX idx_rows_filter ON example_rows (status, family, language)",
    # Only idx_rows_filter holds status, so a bulk accept updates one index entry per row.
    "CREATE INDEX idx_rows_family ON example_rows (family)",
    "CREATE INDEX idx_rows_language ON example_rows (language)",
    "CREATE INDEX idx_rows_model ON example_rows (model)",
    "CREATE INDEX idx_rows_norm_key ON example_rows (norm_key)",
    "CREATE INDEX idx_rows_task ON example_rows (task_id) WHERE task_id IS NOT NULL",
    "CREATE INDEX idx_rows_template ON example_rows (template_version_id) WHERE template_version_id IS NOT NULL",
    "CREATE INDEX idx_rows_job ON example_rows (job_id) WHERE job_id IS NOT NULL",
    "CREATE INDEX idx_rows_dup_group ON example_rows (q_dup_group, id) WHERE q_dup_group IS NOT NULL",
    # Sorting by a quality signal walks these (storage.curation.page); rows not yet checked have
    # NULL there and come after, read in id order.
    "CREATE INDEX idx_rows_margin ON example_rows (q_margin, id) WHERE q_margin IS NOT NULL",
    "CREATE INDEX idx_rows_length_ratio ON example_rows (q_length_ratio, id) WHERE q_length_ratio IS NOT NULL",
]

# The search index follows the texts. Rows listed in search_backlog (a large insert that is
# indexed in the background, see storage.search_backlog) are not in the index yet: deleting or
# editing them must not touch it; the indexer reads their current text when it gets to them.
_NOT_IN_BACKLOG = "NOT EXISTS (SELECT 1 FROM search_backlog b WHERE {ref}.id BETWEEN b.first_id AND b.last_id)"
SEARCH_TRIGGERS = [
    "CREATE TABLE search_backlog (first_id INTEGER NOT NULL, last_id INTEGER NOT NULL, added_at TEXT NOT NULL)",
    f"""CREATE TRIGGER example_texts_fts_insert AFTER INSERT ON example_texts
        WHEN NOT EXISTS (SELECT 1 FROM fts_bulk_load) AND {_NOT_IN_BACKLOG.format(ref='new')} BEGIN
        INSERT INTO examples_fts (rowid, query, positive, negative) VALUES (new.id, new.query, new.positive, new.negative);
    END""",
    f"""CREATE TRIGGER example_texts_fts_delete AFTER DELETE ON example_texts
        WHEN {_NOT_IN_BACKLOG.format(ref='old')} BEGIN
        INSERT INTO examples_fts (examples_fts, rowid, query, positive, negative)
        VALUES ('delete', old.id, old.query, old.positive, old.negative);
    END""",
    f"""CREATE TRIGGER example_texts_fts_update AFTER UPDATE OF query, positive, negative ON example_texts
        WHEN {_NOT_IN_BACKLOG.format(ref='old')} BEGIN
        INSERT INTO examples_fts (examples_fts, rowid, query, positive, negative)
        VALUES ('delete', old.id, old.query, old.positive, old.negative);
        INSERT INTO examples_fts (rowid, query, positive, negative) VALUES (new.id, new.query, new.positive, new.negative);
    END""",
]


VIEW_COLUMNS = ["id", "family", "language", "instruction", "query", "positive", "negative", "status", "task_id",
                "template_version_id", "placeholders", "model", "raw_response", "prompt_tokens", "completion_tokens",
                "cost", "job_id", "source", "negative_mined", "content_hash", "norm_hash", "created_at", "updated_at",
                "q_margin", "q_margin_flag", "q_dup_group", "q_dup_size", "q_length_ratio", "q_length_flag",
                "q_script_flag", "q_empty_flag", "q_problems", "q_model", "q_at", "norm_key"]
# What an INSERT through the view gets for a column it leaves out (views have no defaults).
VIEW_DEFAULTS = {"language": "'English'", "instruction": "''", "status": "'pending'", "source": "'generated'",
                 "negative_mined": "0", "created_at": "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')",
                 "updated_at": "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"}
_ROWS = [name for name in ROW_COLUMNS[:13] + ["norm_key"] + ROW_COLUMNS[13:] if name != "id"]  # the table's order
_TEXTS = TEXT_COLUMNS[1:]


def _value(name: str) -> str:
    if name == "norm_key":
        return f"COALESCE(new.norm_key, {_norm_key('new.norm_hash')})"
    return f"COALESCE(new.{name}, {VIEW_DEFAULTS[name]})" if name in VIEW_DEFAULTS else f"new.{name}"


# Each text column is its own lookup by primary key, evaluated only when a query uses it: a count,
# GROUP BY or filter on short columns never touches example_texts.
VIEW = "CREATE VIEW examples AS SELECT " + ", ".join(
    f"(SELECT t.{name} FROM example_texts t WHERE t.id = r.id) AS {name}" if name in _TEXTS else f"r.{name}"
    for name in VIEW_COLUMNS) + " FROM example_rows r"
VIEW_TRIGGERS = [
    f"""CREATE TRIGGER examples_view_insert INSTEAD OF INSERT ON examples BEGIN
        INSERT INTO example_rows (id, {', '.join(_ROWS)}) VALUES (new.id, {', '.join(map(_value, _ROWS))});
        INSERT INTO example_texts (id, {', '.join(_TEXTS)}) VALUES (last_insert_rowid(), {', '.join(map(_value, _TEXTS))});
    END""",
    f"""CREATE TRIGGER examples_view_update INSTEAD OF UPDATE ON examples BEGIN
        UPDATE example_rows SET {', '.join(f'{name} = new.{name}' for name in _ROWS if name != 'norm_key')},"""
    f""" norm_key = {_norm_key('new.norm_hash')} WHERE id = old.id;
        UPDATE example_texts SET {', '.join(f'{name} = new.{name}' for name in _TEXTS)} WHERE id = old.id"""
    f""" AND ({' OR '.join(f'new.{name} IS NOT old.{name}' for name in _TEXTS)});
    END""",
    """CREATE TRIGGER examples_view_delete INSTEAD OF DELETE ON examples BEGIN
        DELETE FROM example_texts WHERE id = old.id;
        DELETE FROM example_rows WHERE id = old.id;
    END""",
]


def apply(db):
    db.execute(ROW_TABLE)
    db.execute(TEXT_TABLE)
    db.execute(f"INSERT INTO example_rows ({', '.join(ROW_COLUMNS)}, norm_key)"
               f" SELECT {', '.join(ROW_COLUMNS)}, {_norm_key('norm_hash')} FROM examples ORDER BY id")
    db.execute(f"INSERT INTO example_texts ({', '.join(TEXT_COLUMNS)})"
               f" SELECT {', '.join(TEXT_COLUMNS)} FROM examples ORDER BY id")
    db.execute("DROP TABLE examples")  # its indexes and search triggers go with it
    for statement in INDEXES + SEARCH_TRIGGERS + [VIEW] + VIEW_TRIGGERS:
        db.execute(statement)
