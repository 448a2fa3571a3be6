"""Grounded generation plans: queries written from a corpus's passages, resumable like generation plans.

A plan is fixed when the job starts: which passages (sampled across documents), how many queries
each, the task's text, the query types with their weights and the seed. Its id is the id of the
job that made it. An item (one passage) is marked finished in the same transaction that stores
its examples or its failure, so a job killed at any moment is resumed with exactly the rest.
"""

STATEMENTS = [
    """CREATE TABLE grounded_plans (
        id INTEGER PRIMARY KEY,
        corpus_id INTEGER NOT NULL REFERENCES corpora (id) ON DELETE CASCADE,
        per_passage INTEGER NOT NULL,
        passage_ids TEXT NOT NULL,
        instruction TEXT NOT NULL,
        task_id INTEGER,
        query_types TEXT NOT NULL,
        language TEXT NOT NULL,
        seed INTEGER NOT NULL,
        total INTEGER NOT NULL,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE grounded_items (
        plan_id INTEGER NOT NULL,
        item INTEGER NOT NULL,
        job_id INTEGER NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome = 'inserted' OR outcome = 'duplicate' OR outcome = 'failed'),
        examples INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        PRIMARY KEY (plan_id, item)
    ) WITHOUT ROWID""",
]


def apply(db):
    for statement in STATEMENTS:
        db.execute(statement)
