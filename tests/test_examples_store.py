import json

from storage.db import open_db
from storage.dedup_keys import content_hash, norm_hash
from storage.examples import get_example, insert_examples


def _row(**overrides):
    row = {"family": "short-long", "language": "English", "instruction": "Find answers.", "query": "what is rust",
           "positive": "Rust is a language.", "negative": "Rust on iron."}
    row.update(overrides)
    return row


def test_exact_duplicates_are_impossible(db_path):
    db = open_db(db_path)
    first = insert_examples(db, [_row()])
    second = insert_examples(db, [_row()])
    assert (first.inserted, second.inserted, second.duplicates) == (1, 0, 1)


def test_normalised_text_duplicates_are_skipped_and_counted(db_path):
    db = open_db(db_path)
    result = insert_examples(db, [_row(), _row(query="What is  RUST?"), _row(query="what is go")])
    assert (result.inserted, result.duplicates) == (2, 1)


def test_provenance_and_unicode_are_kept(db_path):
    db = open_db(db_path)
    result = insert_examples(db, [_row(query="日本語の「質問」\nline two", negative=None, placeholders={"language": "Japanese"},
                                       model="m", prompt_tokens=12, completion_tokens=34, cost=0.5)])
    stored = get_example(db, result.ids[0])
    assert stored["query"] == "日本語の「質問」\nline two"
    assert stored["negative"] is None
    assert json.loads(stored["placeholders"]) == {"language": "Japanese"}
    assert (stored["status"], stored["prompt_tokens"], stored["completion_tokens"]) == ("pending", 12, 34)


def test_hashes_tell_exact_from_normalised():
    assert content_hash("a", "Q", "p", None) != content_hash("a", "q", "p", None)
    assert norm_hash("a", "Q!", "p", None) == norm_hash("a", "q", "p", None)


def test_a_blank_negative_is_stored_as_none_wherever_it_comes_from(db_path):
    from storage import curation

    db = open_db(db_path)
    ids = insert_examples(db, [_row(query="a", negative=""), _row(query="b", negative=" \n\t"),
                               _row(query="c", negative="Rust on iron.")]).row_ids
    assert [get_example(db, i)["negative"] for i in ids] == [None, None, "Rust on iron."]
    curation.edit(db, ids[2], {"negative": "   "})
    assert get_example(db, ids[2])["negative"] is None
    # the same example written with "" or with None is the same example
    assert insert_examples(db, [_row(query="a", negative=None)]).duplicates == 1
