"""The quality job's "wrong script" flag becomes "language mismatch": q_script_flag is renamed
q_language_flag in example_rows.

The `examples` view and its write triggers name the column, and SQLite refuses to rename a column
that a trigger on a view still names, so they are dropped first and created again from their own
stored SQL with the new name. Stored flags carry over (a field in the wrong script is in the wrong
language too) until the quality job runs again.
"""

OLD, NEW = "q_script_flag", "q_language_flag"


def apply(db):
    saved = db.execute("SELECT type, name, sql FROM sqlite_master WHERE (type = 'view' AND name = 'examples')"
                       " OR (type = 'trigger' AND tbl_name = 'examples')").fetchall()
    for kind, name, _ in sorted(saved, key=lambda item: item[0] != "trigger"):  # triggers before their view
        db.execute(f"DROP {kind.upper()} {name}")
    db.execute(f"ALTER TABLE example_rows RENAME COLUMN {OLD} TO {NEW}")
    for kind, _, sql in sorted(saved, key=lambda item: item[0] != "view"):  # the view before its triggers
        db.execute(sql.replace(OLD, NEW))
