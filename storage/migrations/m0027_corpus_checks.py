"""Checks of examples against their corpus, and proposals that wait for a person.

`example_checks` holds one row per checked example: the round trip (the rank of its positive among
the corpus's passages for its query, NULL when beyond k), each flag with its reason, and which
models checked it. `proposals` holds what the LLM judge suggests (a better positive, a negative
in place of a false negative); nothing changes in the example until a person accepts one.
"""

STATEMENTS = [
    """CREATE TABLE example_checks (
        example_id INTEGER PRIMARY KEY REFERENCES example_rows (id) ON DELETE CASCADE,
        corpus_id INTEGER NOT NULL REFERENCES corpora (id) ON DELETE CASCADE,
        rank INTEGER,
        k INTEGER NOT NULL,
        not_found INTEGER NOT NULL DEFAULT 0,
        copied INTEGER NOT NULL DEFAULT 0,
        wrong_language INTEGER NOT NULL DEFAULT 0,
        off_length INTEGER NOT NULL DEFAULT 0,
        false_negative INTEGER NOT NULL DEFAULT 0,
        reasons TEXT,
        model TEXT NOT NULL,
        judge_model TEXT,
        checked_at TEXT NOT NULL
    )""",
    "CREATE INDEX idx_example_checks_corpus ON example_checks (corpus_id)",
    """CREATE TABLE proposals (
        id INTEGER PRIMARY KEY,
        example_id INTEGER NOT NULL REFERENCES example_rows (id) ON DELETE CASCADE,
        field TEXT NOT NULL CHECK (field = 'positive' OR field = 'negative'),
        passage_id INTEGER REFERENCES passages (id) ON DELETE SET NULL,
        text TEXT NOT NULL,
        reason TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'open' CHECK (state = 'open' OR state = 'accepted' OR state = 'dismissed'),
        created_at TEXT NOT NULL,
        decided_at TEXT,
        decided_by TEXT
    )""",
    "CREATE INDEX idx_proposals_example ON proposals (example_id, state)",
]


def apply(db):
    for statement in STATEMENTS:
        db.execute(statement)
