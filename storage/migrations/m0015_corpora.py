"""Corpora: a user's own documents, split into passages that grounded generation, mining and checks read.

A passage keeps its document's id and title; identical passages of one corpus are stored once
(the importer drops repeats, the UNIQUE index refuses any that slip through). Passages are
searched like examples: an FTS5 index whose content view passes each text through
`search_text` (storage.search_text, migration 24), so Chinese or Thai words are found too.
The index is written by the code that adds or removes a corpus, in one statement per corpus,
rather than by per-row triggers (four times the CPU for a 100k-passage import).
`example_passages` ties an example to the passage it was written from (its positive) and, once
mined, to the passage its negative came from.
"""

STATEMENTS = [
    """CREATE TABLE corpora (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        chunk_words INTEGER NOT NULL,
        overlap_words INTEGER NOT NULL,
        documents INTEGER NOT NULL DEFAULT 0,
        passages INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE passages (
        id INTEGER PRIMARY KEY,
        corpus_id INTEGER NOT NULL REFERENCES corpora (id) ON DELETE CASCADE,
        doc_id TEXT NOT NULL,
        title TEXT NOT NULL DEFAULT '',
        position INTEGER NOT NULL,
        text TEXT NOT NULL,
        text_key INTEGER NOT NULL
    )""",
    "CREATE INDEX idx_passages_corpus_doc ON passages (corpus_id, doc_id, position)",
    # First 60 bits of the text's SHA-1: finds a passage by its text (an example's positive).
    "CREATE INDEX idx_passages_text_key ON passages (text_key, corpus_id)",
    """CREATE VIEW passages_search_source AS
        SELECT id, corpus_id, search_text(title) AS title, search_text(text) AS text FROM passages""",
    """CREATE VIRTUAL TABLE passages_fts USING fts5(
        title, text,
        content='passages_search_source', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    "INSERT INTO passages_fts (passages_fts, rank) VALUES ('automerge', 16)",
    "INSERT INTO passages_fts (passages_fts, rank) VALUES ('hashsize', 67108864)",
    """CREATE TABLE example_passages (
        example_id INTEGER PRIMARY KEY REFERENCES example_rows (id) ON DELETE CASCADE,
        corpus_id INTEGER NOT NULL REFERENCES corpora (id) ON DELETE CASCADE,
        passage_id INTEGER REFERENCES passages (id) ON DELETE SET NULL,
        negative_passage_id INTEGER REFERENCES passages (id) ON DELETE SET NULL,
        positive_score REAL,
        negative_score REAL
    )""",
    "CREATE INDEX idx_example_passages_corpus ON example_passages (corpus_id, passage_id)",
]


def apply(db):
    for statement in STATEMENTS:
        db.execute(statement)
