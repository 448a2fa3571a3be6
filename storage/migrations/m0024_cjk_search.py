"""Search inside text written without spaces: Chinese, Japanese, Korean, Thai, Lao, Khmer, Burmese (storage.search_text).

The index is rebuilt from a view that passes each text through `search_text`, and the triggers
index new and edited texts the same way; the view is also what highlight() reads, so marks land
on the right characters. Rows that were waiting in the search backlog are indexed by the rebuild.
At a million examples the migration takes about a minute and a half on two cores.
"""

_NOT_IN_BACKLOG = "NOT EXISTS (SELECT 1 FROM search_backlog b WHERE {ref}.id BETWEEN b.first_id AND b.last_id)"
_INDEXED = "search_text({ref}.query), search_text({ref}.positive), search_text({ref}.negative)"

STATEMENTS = [
    "DROP TRIGGER example_texts_fts_insert",
    "DROP TRIGGER example_texts_fts_delete",
    "DROP TRIGGER example_texts_fts_update",
    "DROP TABLE examples_fts",
    """CREATE VIEW examples_search_source AS
        SELECT id, search_text(query) AS query, search_text(positive) AS positive,
               search_text(negative) AS negative
        FROM example_texts""",
    """CREATE VIRTUAL TABLE examples_fts USING fts5(
        query, positive, negative,
        content='examples_search_source', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    "INSERT INTO examples_fts (examples_fts, rank) VALUES ('automerge', 16)",  # as migration 22 set them
    "INSERT INTO examples_fts (examples_fts, rank) VALUES ('hashsize', 67108864)",
    "INSERT INTO examples_fts (examples_fts) VALUES ('rebuild')",
    # A rebuilt index is left in large segments that every later insert would merge with (a 100k
    # import then took 25 s to index instead of 6 s at a million examples): one segment it is.
    "INSERT INTO examples_fts (examples_fts) VALUES ('optimize')",
    "DELETE FROM search_backlog",  # the rebuild has indexed those rows too
    f"""CREATE TRIGGER example_texts_fts_insert AFTER INSERT ON example_texts
        WHEN NOT EXISTS (SELECT 1 FROM fts_bulk_load) AND {_NOT_IN_BACKLOG.format(ref='new')} BEGIN
        INSERT INTO examples_fts (rowid, query, positive, negative) VALUES (new.id, {_INDEXED.format(ref='new')});
    END""",
    f"""CREATE TRIGGER example_texts_fts_delete AFTER DELETE ON example_texts
        WHEN {_NOT_IN_BACKLOG.format(ref='old')} BEGIN
        INSERT INTO examples_fts (examples_fts, rowid, query, positive, negative)
        VALUES ('delete', old.id, {_INDEXED.format(ref='old')});
    END""",
    f"""CREATE TRIGGER example_texts_fts_update AFTER UPDATE OF query, positive, negative ON example_texts
        WHEN {_NOT_IN_BACKLOG.format(ref='old')} BEGIN
        INSERT INTO examples_fts (examples_fts, rowid, query, positive, negative)
        VALUES ('delete', old.id, {_INDEXED.format(ref='old')});
        INSERT INTO examples_fts (rowid, query, positive, negative) VALUES (new.id, {_INDEXED.format(ref='new')});
    END""",
]


def apply(db):
    for statement in STATEMENTS:
        db.execute(statement)
