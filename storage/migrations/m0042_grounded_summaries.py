"""Grounded generation may summarise each passage first and write its queries from the passage and
the summary (summarise-then-ask, for queries in other languages): the plan records the choice."""


def apply(db):
    db.execute("ALTER TABLE grounded_plans ADD COLUMN summarise INTEGER NOT NULL DEFAULT 0")
