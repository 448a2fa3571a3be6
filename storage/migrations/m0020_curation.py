"""Curation: full-text search over examples, undoable actions, per-example quality signals.

The FTS index is an external-content FTS5 table kept in step with `examples` by triggers.
The update trigger fires only when a text column changes, so status changes (bulk accept of
100k rows) do not re-index anything.
"""

QUALITY_COLUMNS = [
    ("q_margin", "REAL"),          # cos(query, positive) - cos(query, negative)
    ("q_margin_flag", "INTEGER"),  # 1 where the negative scores at or above the positive
    ("q_dup_group", "INTEGER"),    # id of the kept example of its near-duplicate group; NULL if none
    ("q_dup_size", "INTEGER"),     # members in that group
    ("q_length_ratio", "REAL"),    # words written / words requested by num_words
    ("q_length_flag", "INTEGER"),  # 1 where the length misses the request
    ("q_script_flag", "INTEGER"),  # 1 where a field is mostly not in the language's script
    ("q_empty_flag", "INTEGER"),   # 1 where a field that should hold text is empty
    ("q_problems", "TEXT"),        # short words: which field failed which check
    ("q_model", "TEXT"),           # embedding model the signals came from
    ("q_at", "TEXT"),
]

STATEMENTS = [
    """CREATE VIRTUAL TABLE examples_fts USING fts5(
        query, positive, negative,
        content='examples', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER examples_fts_insert AFTER INSERT ON examples BEGIN
        INSERT INTO examples_fts (rowid, query, positive, negative)
        VALUES (new.id, new.query, new.positive, new.negative);
    END""",
    """CREATE TRIGGER examples_fts_delete AFTER DELETE ON examples BEGIN
        INSERT INTO examples_fts (examples_fts, rowid, query, positive, negative)
        VALUES ('delete', old.id, old.query, old.positive, old.negative);
    END""",
    """CREATE TRIGGER examples_fts_update AFTER UPDATE OF query, positive, negative ON examples BEGIN
        INSERT INTO examples_fts (examples_fts, rowid, query, positive, negative)
        VALUES ('delete', old.id, old.query, old.positive, old.negative);
        INSERT INTO examples_fts (rowid, query, positive, negative)
        VALUES (new.id, new.query, new.positive, new.negative);
    END""",
    "INSERT INTO examples_fts (examples_fts) VALUES ('rebuild')",
    # One row per user-visible action (an edit, a bulk accept, a mining run) so it can be undone
    # as a whole; its per-example before/after lives in example_history.
    """CREATE TABLE curation_actions (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        who TEXT NOT NULL,
        kind TEXT NOT NULL,
        description TEXT NOT NULL,
        count INTEGER NOT NULL DEFAULT 0,
        filter TEXT,
        undone_at TEXT,
        undone_by TEXT
    )""",
    "ALTER TABLE example_history ADD COLUMN action_id INTEGER",
    "CREATE INDEX idx_history_action ON example_history (action_id, example_id)",
    "CREATE INDEX idx_examples_model ON examples (model)",
    "CREATE INDEX idx_examples_template ON examples (template_version_id)",
    "CREATE INDEX idx_examples_family ON examples (family, status)",
    "CREATE INDEX idx_examples_language ON examples (language)",
]


def apply(db):
    for statement in STATEMENTS:
        db.execute(statement)
    for name, kind in QUALITY_COLUMNS:
        db.execute(f"ALTER TABLE examples ADD COLUMN {name} {kind}")
    db.execute("CREATE INDEX idx_examples_dup_group ON examples (q_dup_group)")
