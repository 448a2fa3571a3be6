"""Corpora and their passages: add (one transaction, indexed for search), list, find, remove."""

import hashlib
import json
from dataclasses import dataclass

from storage.db import now, transaction
from storage.dedup_keys import norm_key

_INDEX_CORPUS = ("INSERT INTO passages_fts (rowid, title, text)"
                 " SELECT id, title, text FROM passages_search_source WHERE corpus_id = ?")
_UNINDEX_CORPUS = ("INSERT INTO passages_fts (passages_fts, rowid, title, text)"
                   " SELECT 'delete', id, title, text FROM passages_search_source WHERE corpus_id = ?")


@dataclass(frozen=True)
class Passage:
    doc_id: str
    title: str
    position: int   # the passage's place in its document, from 0
    text: str


def text_key(text: str) -> int:
    """The indexed key of a passage's text (first 60 bits of its SHA-1): equal texts, equal keys."""
    return norm_key(hashlib.sha1(text.encode("utf-8")).hexdigest())


def corpus_by_name(db, name: str) -> dict | None:
    rows = list(db.query("SELECT * FROM corpora WHERE name = ?", [name]))
    return rows[0] if rows else None


def list_corpora(db) -> list[dict]:
    return list(db.query("SELECT * FROM corpora ORDER BY name"))


def add_corpus(db, name: str, source: str, chunk_words: int, overlap_words: int, documents: int,
               passages: list[Passage]) -> int:
    """Store a corpus and its passages in one transaction, indexed for search; returns its id."""
    with transaction(db):
        cursor = db.execute(
            "INSERT INTO corpora (name, source, chunk_words, overlap_words, documents, passages, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", [name, source, chunk_words, overlap_words, documents, len(passages), now()])
        corpus_id = cursor.lastrowid
        db.conn.executemany(
            "INSERT INTO passages (corpus_id, doc_id, title, position, text, text_key) VALUES (?, ?, ?, ?, ?, ?)",
            ((corpus_id, p.doc_id, p.title, p.position, p.text, text_key(p.text)) for p in passages))
        db.execute(_INDEX_CORPUS, [corpus_id])
    return corpus_id


def remove_corpus(db, name: str) -> bool:
    """Remove a corpus, its passages and their search entries; False if there is none by that name."""
    found = corpus_by_name(db, name)
    if found is None:
        return False
    with transaction(db):
        db.execute(_UNINDEX_CORPUS, [found["id"]])
        db.execute("DELETE FROM example_passages WHERE corpus_id = ?", [found["id"]])
        db.execute("DELETE FROM passages WHERE corpus_id = ?", [found["id"]])
        db.execute("DELETE FROM corpora WHERE id = ?", [found["id"]])
    return True


def passages_of(db, corpus_id: int, columns: str = "id, doc_id, title, position, text") -> list[dict]:
    return list(db.query(f"SELECT {columns} FROM passages WHERE corpus_id = ? ORDER BY id", [corpus_id]))


def get_passages(db, ids) -> dict[int, dict]:
    return {row["id"]: row for row in db.query(
        "SELECT id, corpus_id, doc_id, title, position, text FROM passages"
        " WHERE id IN (SELECT value FROM json_each(?))", [json.dumps(list(ids))])}


def find_by_text(db, corpus_id: int, text: str) -> dict | None:
    """The passage of a corpus whose text is exactly `text` (an example's positive), if any."""
    for row in db.query("SELECT id, doc_id, title, position, text FROM passages WHERE text_key = ? AND corpus_id = ?",
                        [text_key(text), corpus_id]):
        if row["text"] == text:
            return row
    return None


def search_passages(db, corpus_id: int, fts_query: str, limit: int = 20) -> list[dict]:
    """Passages of a corpus matching an FTS5 query (see storage.curation.fts_query), best first."""
    return list(db.query(
        "SELECT p.id, p.doc_id, p.title, p.position, p.text FROM passages_fts f JOIN passages p ON p.id = f.rowid"
        " WHERE passages_fts MATCH ? AND p.corpus_id = ? ORDER BY f.rank LIMIT ?", [fts_query, corpus_id, limit]))
