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
"""

from storage.examples import create_examples_view, norm_key

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


def apply(db):
    db.conn.create_function("norm_key", 1, norm_key, deterministic=True)
    db.execute(ROW_TABLE)
    db.execute(TEXT_TABLE)
    old = {row[1] for row in db.execute("PRAGMA table_info(examples)").fetchall()}
    extra = sorted(old - set(ROW_COLUMNS) - set(TEXT_COLUMNS) - {"norm_key"})
    for name in extra:  # columns a later migration of another area may already have added
        db.execute(f"ALTER TABLE example_rows ADD COLUMN {name}")
    rows = ROW_COLUMNS + extra
    db.execute(f"INSERT INTO example_rows ({', '.join(rows)}, norm_key)"
               f" SELECT {', '.join(rows)}, norm_key(norm_hash) FROM examples ORDER BY id")
    db.execute(f"INSERT INTO example_texts ({', '.join(TEXT_COLUMNS)})"
               f" SELECT {', '.join(TEXT_COLUMNS)} FROM examples ORDER BY id")
    db.execute("DROP TABLE examples")  # its indexes and search triggers go with it
    for statement in INDEXES + SEARCH_TRIGGERS:
        db.execute(statement)
    create_examples_view(db)
