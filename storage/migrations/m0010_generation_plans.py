"""Generation plans and their finished work items, so that a resumed job does exactly the rest.

A plan is fixed when a generation job starts: which tasks, how many examples each, and the
seed from which every item's prompt is drawn. Its id is the id of the job that made it.
An item is recorded as finished in the same transaction that stores its example or failure.
"""

STATEMENTS = [
    """CREATE TABLE generation_plans (
        id INTEGER PRIMARY KEY,
        family TEXT NOT NULL,
        per_task INTEGER NOT NULL,
        task_ids TEXT NOT NULL,
        seed INTEGER NOT NULL,
        total INTEGER NOT NULL,
        mode TEXT NOT NULL DEFAULT 'online' CHECK (mode IN ('online', 'batch')),
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE generation_items (
        plan_id INTEGER NOT NULL,
        item INTEGER NOT NULL,
        job_id INTEGER NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('inserted', 'duplicate', 'failed')),
        example_id INTEGER,
        created_at TEXT NOT NULL,
        PRIMARY KEY (plan_id, item)
    ) WITHOUT ROWID""",
]


def apply(db):
    for statement in STATEMENTS:
        db.execute(statement)
