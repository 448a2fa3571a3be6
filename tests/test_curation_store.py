import pytest

from storage import curation
from storage.curation import MARK_CLOSE, MARK_OPEN, ExampleFilter
from storage.db import open_db
from storage.dedup_keys import content_hash, norm_hash
from storage.examples import get_example, insert_examples
from studio.errors import StudioError
from tests.example_rows import make_rows


@pytest.fixture
def db(db_path):
    database = open_db(db_path)
    insert_examples(database, make_rows(60))
    return database


def test_filters_combine_status_family_language_and_model(db):
    flt = ExampleFilter(family="short-long", language="English")
    rows = curation.page(db, flt, limit=100).rows
    assert rows and all(r["family"] == "short-long" and r["language"] == "English" for r in rows)
    assert curation.count(db, flt) == len(rows) == sum(
        1 for i in range(60) if i % 6 == 0 and i % 3 == 0)
    curation.set_status(db, ExampleFilter(ids=(rows[0]["id"],)), "accepted")
    assert curation.count(db, ExampleFilter(status="accepted", family="short-long", language="English")) == 1
    assert curation.count(db, ExampleFilter(model="gpt-4")) == 30


def test_length_and_no_negative_filters(db):
    no_negative = curation.count(db, ExampleFilter(flags=("no_negative",)))
    assert no_negative == 20  # short-short and long-long
    long_ones = curation.page(db, ExampleFilter(length_field="query", min_chars=1000), limit=50)
    assert long_ones.total == 0
    some = curation.page(db, ExampleFilter(length_field="query", max_chars=25), limit=500).rows
    assert all(len(r["query"]) <= 25 for r in some)


def test_pagination_walks_every_row_once_in_order(db):
    seen = []
    for offset in range(0, 60, 25):
        result = curation.page(db, ExampleFilter(), sort="oldest", offset=offset, limit=25)
        assert result.total == 60
        seen += [r["id"] for r in result.rows]
    assert seen == sorted(seen) and len(set(seen)) == 60


def test_search_finds_words_and_marks_them(db):
    target = curation.page(db, ExampleFilter(), sort="oldest", limit=1).rows[0]
    curation.edit(db, target["id"], {"positive": "The Zephyrine glacier melts “quickly” in spring."})
    result = curation.page(db, ExampleFilter(search="zephyrine"))
    assert result.total == 1 and result.rows[0]["id"] == target["id"]
    assert f"{MARK_OPEN}Zephyrine{MARK_CLOSE}" in result.rows[0]["positive_marked"]
    # Prefix search, quotes typed by the user, and a search combined with another filter.
    assert curation.count(db, ExampleFilter(search="zephyr*")) == 1
    assert curation.count(db, ExampleFilter(search='"zephyrine')) == 1
    assert curation.count(db, ExampleFilter(search="zephyrine", family="sts")) == (
        1 if target["family"] == "sts" else 0)


CJK_TEXTS = {  # language: (positive, a word inside it, a word it does not contain)
    "Chinese": ("光合作用是植物利用阳光制造养分的过程。", "阳光", "月光"),
    "Japanese": ("東京タワーは東京都港区にある電波塔です。", "電波塔", "電話"),
    "Korean": ("학교에서 광합성에 대해 배웠습니다", "광합성", "광고"),
    "Thai": ("ฉันชอบเรียนภาษาไทยมาก", "ภาษา", "ภาพ"),
}


def test_search_finds_words_inside_text_written_without_spaces(db):
    ids = {}
    for language, (positive, _, _) in CJK_TEXTS.items():
        row = {**make_rows(1, seed=len(ids) + 50)[0], "language": language, "positive": positive}
        ids[language] = insert_examples(db, [row]).ids[0]
    for language, (positive, word, absent) in CJK_TEXTS.items():
        result = curation.page(db, ExampleFilter(search=word))
        assert [r["id"] for r in result.rows] == [ids[language]], (language, word)
        marked = result.rows[0]["positive_marked"]
        # The mark sits on the word and the text reads as it was written.
        assert marked.replace(MARK_OPEN, "").replace(MARK_CLOSE, "") == positive
        assert f"{MARK_OPEN}{word}{MARK_CLOSE}" in marked
        assert curation.count(db, ExampleFilter(search=absent)) == 0, (language, absent)
    # A phrase across the whole run, a single character, a prefix, and Latin words beside CJK text.
    assert curation.count(db, ExampleFilter(search="光合作用是植物")) == 1
    assert curation.count(db, ExampleFilter(search="塔")) == 1
    assert curation.count(db, ExampleFilter(search="港区*")) == 1
    # Edits and deletes keep the index in step with the texts.
    curation.edit(db, ids["Chinese"], {"positive": "月光照在湖面上。"})
    assert curation.count(db, ExampleFilter(search="阳光")) == 0
    assert curation.count(db, ExampleFilter(search="月光")) == 1
    db.execute("INSERT INTO examples_fts (examples_fts) VALUES ('integrity-check')")  # raises if out of step


def test_a_large_cjk_import_is_searchable_once_indexed_in_the_background(db):
    from storage import search_backlog

    rows = [{**row, "language": "Japanese", "positive": f"第{i}番目の文書は東京の電波塔について説明します。"}
            for i, row in enumerate(make_rows(12, seed=77))]
    insert_examples(db, rows, index_now=False, background=False)
    assert curation.count(db, ExampleFilter(search="電波塔")) == 0
    search_backlog.catch_up(db)
    assert curation.count(db, ExampleFilter(search="電波塔")) == 12
    db.execute("INSERT INTO examples_fts (examples_fts) VALUES ('integrity-check')")


def test_a_store_from_before_cjk_search_is_reindexed_on_open(db_path, monkeypatch):
    from storage import db as db_module
    from storage import search_backlog

    before = [m for m in db_module.available_migrations() if m[0] != 24]
    monkeypatch.setattr(db_module, "available_migrations", lambda: before)
    old = open_db(db_path)
    positive, word, _ = CJK_TEXTS["Japanese"]

    def add(query, positive):  # through the view, as that schema's own triggers index it
        hashes = [content_hash("", query, positive, None), norm_hash("", query, positive, None)]
        old.execute("INSERT INTO examples (family, language, query, positive, content_hash, norm_hash)"
                    " VALUES ('short-short', 'Japanese', ?, ?, ?, ?)", [query, positive, *hashes])

    add("tower", positive)
    search_backlog.add(old, 2, 7)  # rows of a large import, not indexed yet
    for i in range(6):
        add(f"p{i}", f"row {i}")
    assert curation.count(old, ExampleFilter(search=word)) == 0  # whole runs only, then
    assert curation.count(old, ExampleFilter(search="p3")) == 0
    old.conn.close()
    monkeypatch.undo()

    db = open_db(db_path)
    assert curation.count(db, ExampleFilter(search=word)) == 1
    assert search_backlog.waiting(db) == 0 and curation.count(db, ExampleFilter(search="p3")) == 1
    db.execute("INSERT INTO examples_fts (examples_fts) VALUES ('integrity-check')")


def test_search_after_edit_forgets_old_words(db):
    row = curation.page(db, ExampleFilter(), limit=1).rows[0]
    word = row["query"].split()[0]
    assert curation.count(db, ExampleFilter(search=word)) >= 1
    curation.edit(db, row["id"], {"query": "completely different words"})
    assert row["id"] not in [r["id"] for r in curation.page(db, ExampleFilter(search=word), limit=500).rows]
    assert curation.count(db, ExampleFilter(search="completely different")) == 1


def test_bulk_accept_covers_whole_filter_not_one_page(db):
    flt = ExampleFilter(language="German")
    result = curation.set_status(db, flt, "accepted")
    assert result.count == 20
    assert curation.count(db, ExampleFilter(language="German", status="accepted")) == 20
    assert curation.count(db, ExampleFilter(status="accepted")) == 20


def test_undo_reverts_a_bulk_action_as_one_step(db):
    curation.set_status(db, ExampleFilter(family="sts"), "rejected")
    curation.set_status(db, ExampleFilter(language="French"), "accepted")
    assert curation.count(db, ExampleFilter(status="accepted")) == 20
    result = curation.undo_last(db)
    assert result.count == 20
    assert curation.count(db, ExampleFilter(status="accepted")) == 0
    # The rejection before it is untouched, and undo again reverts it.
    assert curation.count(db, ExampleFilter(status="rejected")) == 10
    curation.undo_last(db)
    assert curation.count(db, ExampleFilter(status="pending")) == 60
    with pytest.raises(StudioError, match="nothing to undo"):
        curation.undo_last(db)


def test_bulk_delete_and_undo_restore_rows_and_search(db):
    before = {r["id"]: r for r in db.query("SELECT * FROM examples WHERE family = 'bitext'")}
    word = next(iter(before.values()))["positive"].split()[0]
    result = curation.delete(db, ExampleFilter(family="bitext"))
    assert result.count == 10 and curation.count(db, ExampleFilter(family="bitext")) == 0
    assert curation.count(db, ExampleFilter(search=word)) == 0
    curation.undo_last(db)
    after = {r["id"]: r for r in db.query("SELECT * FROM examples WHERE family = 'bitext'")}
    assert after == before
    assert curation.count(db, ExampleFilter(search=word)) == 1


def test_edit_keeps_history_with_who_when_before_after(db):
    row = curation.page(db, ExampleFilter(family="short-long"), limit=1).rows[0]
    curation.edit(db, row["id"], {"query": "new query", "negative": None}, who="alice", status="accepted")
    stored = get_example(db, row["id"])
    assert stored["query"] == "new query" and stored["negative"] is None and stored["status"] == "accepted"
    assert stored["content_hash"] == content_hash(row["instruction"], "new query", row["positive"], None)
    (entry,) = curation.history(db, row["id"])
    assert entry["who"] == "alice" and entry["at"] and entry["action"] == "edit"
    assert entry["before"]["query"] == row["query"] and entry["after"]["query"] == "new query"
    assert entry["before"]["negative"] == row["negative"] and entry["after"]["negative"] is None
    assert entry["before"]["status"] == "pending" and entry["after"]["status"] == "accepted"
    curation.undo_last(db, who="bob")
    restored = get_example(db, row["id"])
    assert (restored["query"], restored["negative"], restored["status"]) == (row["query"], row["negative"], "pending")
    assert [h["who"] for h in curation.history(db, row["id"])] == ["alice", "bob"]


def test_edit_refuses_to_create_a_duplicate_or_empty_query(db):
    first, second = curation.page(db, ExampleFilter(family="sts"), sort="oldest", limit=2).rows
    with pytest.raises(StudioError, match="identical to example"):
        curation.edit(db, second["id"], {name: first[name] for name in ("instruction", "query", "positive",
                                                                          "negative")})
    with pytest.raises(StudioError, match="cannot be empty"):
        curation.edit(db, first["id"], {"query": "   "})


def test_bulk_history_records_each_example(db):
    result = curation.set_status(db, ExampleFilter(family="long-long"), "accepted", who="carol")
    rows = list(db.query("SELECT * FROM example_history WHERE action_id = ?", [result.action_id]))
    assert len(rows) == 10 and all(r["who"] == "carol" and r["action"] == "accept" for r in rows)


def test_distinct_values_for_filter_choices(db):
    assert curation.loose_distinct(db, "language") == ["English", "French", "German"]
    assert curation.loose_distinct(db, "model") == ["gpt-3.5", "gpt-4"]


def test_unknown_sort_or_flag_is_a_user_error(db):
    with pytest.raises(StudioError):
        curation.page(db, ExampleFilter(), sort="bogus")
    with pytest.raises(StudioError):
        curation.count(db, ExampleFilter(flags=("bogus",)))


def test_capped_count_stops_early_but_exact_count_does_not(db):
    assert curation.count(db, ExampleFilter(search="p*"), cap=10) == 11
    assert curation.count(db, ExampleFilter(search="p*")) == 60
