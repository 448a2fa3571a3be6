"""The batched insert path of storage.examples keeps the reference behaviour."""

import random
import re
import unicodedata

from storage.db import open_db
from storage.dedup_keys import normalize_text
from storage.examples import LOOKUP_BATCH, get_example, insert_examples
from tests.example_rows import make_rows


def reference_normalize(text):
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return re.sub(r"\s+", " ", text).strip()


def test_fast_normalisation_equals_the_reference_definition():
    samples = ["What is  RUST?", "naïve CAFÉ — “quoted”!", "ﬁne Ⅻ ＡＢＣ。", "tab\tand\x1cfile sep\u00a0nbsp",
               "日本語の「質問」", "Straße ǅ", "$5 + <tags> ^~|`", "", "a_b-c.d"]
    for text in samples:
        assert normalize_text(text) == reference_normalize(text), text


def test_fast_normalisation_equals_the_reference_on_random_mixed_text():
    # Letters that fold and letters that do not, in and out of ASCII; punctuation and spaces of
    # several scripts; compatibility forms; combining marks: every fast path and its way out.
    alphabet = ("aZ09 .,;!?'\"-_\t\n" "éÉüÜßẞİıΣσςǅ" "日本語の" "「」“”«»—…·" "\u00a0\u2028\u3000\u1680"
                "ﬁⅫＡｂ。\u0301\u0308" "हिन्दी" "Ωω" "\x1c\x85")
    rng = random.Random(5)
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert normalize_text(text) == reference_normalize(text), repr(text)


def _insert_one_through_the_view(db):
    db.execute("INSERT INTO examples (family, language, instruction, query, positive, content_hash, norm_hash,"
               " created_at, updated_at) VALUES ('sts', 'English', '', 'zeppelin', 'airship', 'h1', 'n1', 'x', 'x')")


def _assert_it_is_searchable(db):
    from storage import curation
    from storage.curation import ExampleFilter

    assert curation.count(db, ExampleFilter(search="zeppelin")) == 1
    db.execute("INSERT INTO examples_fts (examples_fts) VALUES ('integrity-check')")  # raises if out of step


def test_batched_insert_reports_the_real_ids_across_batches(db_path):
    db = open_db(db_path)
    rows = make_rows(LOOKUP_BATCH + 37)
    rows.insert(600, dict(rows[10]))  # a duplicate inside the call, in a later batch
    result = insert_examples(db, rows)
    assert (result.inserted, result.duplicates) == (LOOKUP_BATCH + 37, 1)
    for example_id, row in zip(result.ids, [r for i, r in enumerate(rows) if i != 600]):
        assert get_example(db, example_id)["query"] == row["query"]
    copy_at = next(i for i, row in enumerate(rows) if i != 10 and row == rows[10])
    assert [i for i, new_id in enumerate(result.row_ids) if new_id is None] == [copy_at]
    assert [i for i in result.row_ids if i is not None] == result.ids
    again = insert_examples(db, make_rows(3) + make_rows(2, seed=9))
    assert (again.inserted, again.duplicates) == (2, 3)
    assert again.row_ids[:3] == [None, None, None] and again.row_ids[3:] == again.ids


def test_a_failed_insert_inside_an_outer_transaction_leaves_search_indexing_intact(db_path):
    import pytest

    from storage.db import transaction

    db = open_db(db_path)
    with transaction(db):
        with pytest.raises(ValueError, match="refused an example"):
            insert_examples(db, make_rows(2) + make_rows(1, seed=5, status="bogus"))
        assert db.execute("SELECT COUNT(*) FROM fts_bulk_load").fetchone()[0] == 0
        _insert_one_through_the_view(db)
    _assert_it_is_searchable(db)


def test_a_large_insert_leaves_copying_the_log_to_the_search_indexer(db_path):
    import os

    from storage import curation, search_backlog
    from storage.curation import ExampleFilter

    db = open_db(db_path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size_before = os.path.getsize(db_path)
    rows = make_rows(6_000, seed=3)  # ~1 kB each: a log of thousands of pages
    result = insert_examples(db, rows, background=False)
    assert result.inserted == 6_000 and search_backlog.waiting(db) == 6_000
    # The rows are committed (another connection reads them) but still only in the log.
    other = open_db(db_path)
    assert other.execute("SELECT COUNT(*) FROM example_rows").fetchone()[0] == 6_000
    assert os.path.getsize(db_path) == size_before
    assert db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000  # set back for later commits
    search_backlog.catch_up(other)  # the indexer's first commit copies the log into the file
    assert os.path.getsize(db_path) > size_before + 4_000_000
    assert curation.count(db, ExampleFilter(search=rows[0]["query"].split()[0])) == 1
    # A small insert is indexed at once and copied as usual.
    insert_examples(db, make_rows(3, seed=4))
    assert db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000



def test_a_large_insert_keeps_the_search_trigger_for_the_inserts_after_it(db_path, monkeypatch):
    import pytest

    from storage import examples, search_backlog

    monkeypatch.setattr(examples, "SYNC_INDEX_LIMIT", 50)
    db = open_db(db_path)

    def trigger_sql():
        return db.execute("SELECT sql FROM sqlite_master WHERE name = ?", [examples.SEARCH_TRIGGER]).fetchone()

    before = trigger_sql()
    assert before is not None
    with pytest.raises(ValueError, match="refused an example"):  # fails after its first rows went in
        insert_examples(db, make_rows(80) + [dict(make_rows(1, seed=8)[0], task_id=12345)], background=False)
    assert trigger_sql() == before
    insert_examples(db, make_rows(120, seed=2), background=False)
    assert trigger_sql() == before
    search_backlog.catch_up(db)
    # A row inserted one at a time (an undo restores rows this way) is searchable through the trigger.
    _insert_one_through_the_view(db)
    _assert_it_is_searchable(db)


def test_placeholders_are_stored_as_their_own_json_even_when_they_compare_equal(db_path):
    import json

    db = open_db(db_path)
    values = [1, True, 1.0, "1", "1", [1, "x"], {"a": None}, "ü “q”", 1, "1"]
    rows = make_rows(len(values), seed=6)
    for row, value in zip(rows, values):
        row["placeholders"] = {"num_words": value, "language": "German"}
    rows[-1]["placeholders"] = "already text"
    result = insert_examples(db, rows)
    stored = [get_example(db, example_id)["placeholders"] for example_id in result.ids]
    expected = [json.dumps(row["placeholders"], ensure_ascii=False) for row in rows[:-1]] + ["already text"]
    assert stored == expected
