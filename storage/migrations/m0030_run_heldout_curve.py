"""Training keeps score: the held-out nDCG@10 of a run at step 0 and every few steps, and the run's
outcome (which step was exported, and whether it beat the base model)."""


def apply(db):
    db.execute("""CREATE TABLE run_heldout_curve (
        run_id INTEGER NOT NULL,
        step INTEGER NOT NULL,
        ndcg_at_10 REAL NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (run_id, step)
    )""")
    db.execute("ALTER TABLE runs ADD COLUMN outcome TEXT NOT NULL DEFAULT '{}'")
