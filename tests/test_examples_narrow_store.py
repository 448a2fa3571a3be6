"""The store split into narrow rows and texts (migration 23), its search backlog, and the sorts
and duplicate grouping that lean on it."""

import hashlib
import json
import random

import numpy as np
import pytest

import storage.db as db_module
from storage import curation, search_backlog
from storage import examples as examples_module
from storage.curation import ExampleFilter
from storage.db import apply_migrations, open_db, transaction
from storage.dedup_keys import content_hash, norm_hash, normalize_text
from storage.examples import get_example, insert_examples
from studio.curation import quality
from studio.curation.quality import union_groups
from studio.errors import StudioError
from tests.example_rows import make_rows


def _integrity(db):
    db.execute("INSERT INTO examples_fts (examples_fts) VALUES ('integrity-check')")  # raises if out of step


def test_hashes_equal_their_json_definition():
    # The stored hashes (and the demo's held-out list) are keyed by these exact definitions.
    samples = [("", "q", "p", None), ("Do X", "Ünïcode “quotes”\n\ttab", 'back\\slash "q"', "\x00nul\x1f"),
               (None, "ＡＢＣ。 ﬁne", "Straße\u2028line\u00a0nbsp", "日本語の「質問」"), ("a", "b\x7f", "c\x85d", "e")]
    for instruction, query, positive, negative in samples:
        exact = json.dumps([instruction or "", query, positive, negative], ensure_ascii=False)
        assert content_hash(instruction, query, positive, negative) == hashlib.sha256(
            exact.encode("utf-8")).hexdigest()
        folded = json.dumps([normalize_text(v) for v in (instruction, query, positive, negative)],
                            ensure_ascii=False)
        assert norm_hash(instruction, query, positive, negative) == hashlib.sha256(
            folded.encode("utf-8")).hexdigest()


def test_migration_moves_a_single_table_store_without_losing_anything(db_path, monkeypatch):
    old = open_db(db_path, migrate=False)
    before_split = [m for m in db_module.available_migrations() if m[0] < 23]
    monkeypatch.setattr(db_module, "available_migrations", lambda: before_split)
    apply_migrations(old)
    insert_examples(old, make_rows(12))
    row = get_example(old, 3)
    texts = [row["instruction"], row["query"], "The quasar zebra edit.", row["negative"]]
    old.execute("UPDATE examples SET positive = ?, content_hash = ?, norm_hash = ?, q_margin = 0.25 WHERE id = 3",
                [texts[2], content_hash(*texts), norm_hash(*texts)])
    old.execute("UPDATE examples SET status = 'accepted' WHERE family = 'sts'")
    # Migration 26 renames q_script_flag to q_language_flag.
    wide = [{("q_language_flag" if name == "q_script_flag" else name): value for name, value in row.items()}
            for row in old.query("SELECT * FROM examples ORDER BY id")]
    old.conn.close()
    monkeypatch.undo()

    db = open_db(db_path)
    assert [dict(row) for row in db.query(f"SELECT {', '.join(wide[0])} FROM examples ORDER BY id")] == wide
    _integrity(db)
    assert [r["id"] for r in curation.page(db, ExampleFilter(search="quasar")).rows] == [3]
    assert [r["id"] for r in curation.page(db, ExampleFilter(), sort="margin", limit=1).rows] == [3]
    assert curation.count(db, ExampleFilter(status="accepted")) == 2
    # Edits, bulk actions and undo work on the migrated rows.
    curation.edit(db, 3, {"positive": "A plain positive."}, who="ana")
    curation.set_status(db, ExampleFilter(family="sts"), "rejected")
    assert curation.undo_last(db).count == 2 and curation.undo_last(db).count == 1  # the status, then the edit
    assert get_example(db, 3)["positive"] == "The quasar zebra edit." and curation.count(
        db, ExampleFilter(status="accepted")) == 2
    # Duplicates of migrated rows are still recognised through the new key (row 3 was edited).
    again = insert_examples(db, make_rows(12))
    assert (again.inserted, again.duplicates) == (1, 11)
    _integrity(db)


def test_writes_through_the_view_reach_both_tables(db_path):
    db = open_db(db_path)
    db.execute("INSERT INTO examples (family, query, positive, content_hash, norm_hash) "
               "VALUES ('sts', 'walrus', 'tusk', 'c1', 'abc123')")
    row = get_example(db, 1)
    assert (row["language"], row["status"], row["instruction"], row["source"]) == ("English", "pending", "", "generated")
    db.execute("UPDATE examples SET status = 'accepted', query = 'narwhal' WHERE id = 1")
    assert curation.count(db, ExampleFilter(search="narwhal", status="accepted")) == 1
    assert curation.count(db, ExampleFilter(search="walrus")) == 0
    db.execute("DELETE FROM examples WHERE id = 1")
    assert db.execute("SELECT COUNT(*) FROM example_texts").fetchone()[0] == 0
    _integrity(db)


def test_a_large_insert_is_stored_at_once_and_searchable_after_the_backlog(db_path):
    db = open_db(db_path)
    insert_examples(db, make_rows(5, seed=1))
    rows = make_rows(40, seed=2)
    rows[7]["positive"] = "the bathyscaphe descends"
    rows[8]["positive"] = "a bathyscaphe again"
    result = insert_examples(db, rows, index_now=False, background=False)
    assert result.inserted == 40 and curation.count(db, ExampleFilter()) == 45
    assert search_backlog.waiting(db) == 40
    assert curation.count(db, ExampleFilter(search="bathyscaphe")) == 0  # not indexed yet, and says so
    # Edits and deletes of rows still waiting must not touch the index...
    first, second = result.ids[7], result.ids[8]
    curation.edit(db, first, {"positive": "the submarine descends"})
    curation.delete(db, ExampleFilter(ids=(result.ids[0],)))
    # ...and the indexer, in steps, reads the texts as they are now.
    assert search_backlog.index_some(db, limit=15) == 25
    search_backlog.catch_up(db)
    assert search_backlog.waiting(db) == 0
    assert [r["id"] for r in curation.page(db, ExampleFilter(search="bathyscaphe")).rows] == [second]
    assert [r["id"] for r in curation.page(db, ExampleFilter(search="submarine")).rows] == [first]
    _integrity(db)
    assert curation.undo_last(db).count == 1  # the delete, put back and indexed
    _integrity(db)


def test_inserts_above_the_limit_are_indexed_by_a_background_thread(db_path, monkeypatch):
    monkeypatch.setattr(examples_module, "SYNC_INDEX_LIMIT", 10)
    db = open_db(db_path)
    rows = make_rows(30, seed=4)
    rows[20]["query"] = "ornithopter flight"
    insert_examples(db, rows)
    assert search_backlog.wait(db, timeout=30)
    assert search_backlog.waiting(db) == 0 and search_backlog.last_error(db) is None
    assert curation.count(db, ExampleFilter(search="ornithopter")) == 1
    insert_examples(db, make_rows(5, seed=5))  # small: indexed inside its own transaction
    assert search_backlog.waiting(db) == 0
    _integrity(db)


def test_undo_refuses_to_bring_back_a_duplicate(db_path):
    db = open_db(db_path)
    ids = insert_examples(db, make_rows(4)).ids
    original = get_example(db, ids[0])
    curation.edit(db, ids[0], {"query": "changed query"})
    insert_examples(db, [{key: original[key] for key in ("family", "language", "instruction", "query", "positive",
                                                          "negative")}])
    with pytest.raises(StudioError, match="identical"):
        curation.undo_last(db)
    assert get_example(db, ids[0])["query"] == "changed query"


@pytest.mark.parametrize("sort", ["margin", "margin_desc", "length_ratio", "duplicate_group"])
def test_quality_sorts_put_unchecked_rows_last_across_pages(db_path, sort):
    db = open_db(db_path)
    ids = insert_examples(db, make_rows(45)).ids
    rng = random.Random(sort)
    with transaction(db):
        for example_id in ids:
            if rng.random() < 0.6:
                value = round(rng.uniform(-1, 1), 1)  # ties, so the id tie-break matters
                db.execute("UPDATE example_rows SET q_margin = ?, q_length_ratio = ?, q_dup_group = ? WHERE id = ?",
                           [value, value + 1, int(value * 10) + 20, example_id])
    column = curation.NULLS_LAST_SORTS[sort][0]
    flt = ExampleFilter(family=None)
    expected = [r[0] for r in db.execute(f"SELECT id FROM examples e ORDER BY {curation.SORTS[sort]}").fetchall()]
    for size in (7, 10):
        walked = []
        for offset in range(0, 50, size):
            walked += [r["id"] for r in curation.page(db, flt, sort=sort, offset=offset, limit=size).rows]
        assert walked == expected, column
    plan = " ".join(str(row) for row in db.execute(
        f"EXPLAIN QUERY PLAN SELECT id FROM examples e WHERE e.{column} IS NOT NULL"
        f" ORDER BY {curation.NULLS_LAST_SORTS[sort][1]} LIMIT 5"))
    assert "idx_rows_" in plan and "SCAN r" not in plan.replace("SCAN r USING INDEX", "")


def test_duplicate_groups_from_tiles_equal_all_pairs(monkeypatch):
    monkeypatch.setattr(quality, "ROW_BLOCK", 7)
    monkeypatch.setattr(quality, "COLUMN_BLOCK", 11)
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(12, 16))
    vectors = np.concatenate([centres, centres[:5] + rng.normal(scale=0.05, size=(5, 16)),
                              centres[2:4] + rng.normal(scale=0.05, size=(2, 16)), rng.normal(size=(20, 16))])
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    order = rng.permutation(len(vectors))
    vectors = vectors[order]
    # Reference: connected components of the full similarity matrix above the threshold.
    similar = vectors @ vectors.T > 0.99
    reference = list(range(len(vectors)))
    for i in range(len(vectors)):
        for j in range(i + 1, len(vectors)):
            if similar[i, j]:
                a, b = reference[i], reference[j]
                reference = [min(a, b) if x in (a, b) else x for x in reference]
    assert union_groups(vectors, 0.99) == reference
    # Many copies of one vector stay one group while each keeps only top_k links per tile.
    copies = np.repeat(vectors[:1], 40, axis=0)
    assert union_groups(copies, 0.99, top_k=3) == [0] * 40


def test_the_curate_table_says_while_search_is_still_indexing(db_path):
    from studio.curation import review

    db = open_db(db_path)
    insert_examples(db, make_rows(8), index_now=False, background=False)
    view = review.table_view(db, ExampleFilter(), "newest", 0, 5)
    assert view.total == 8 and view.indexing == 8
    assert "Indexing 8 newly added examples for search" in view.caption()
    assert search_backlog.wait(db, timeout=30)  # showing the table started the indexer
    assert "Indexing" not in review.table_view(db, ExampleFilter(), "newest", 0, 5).caption()
