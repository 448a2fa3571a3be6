import json

import numpy as np
import pytest

from storage import curation
from storage.curation import ExampleFilter
from storage.db import open_db
from storage.examples import get_example, insert_examples
from studio.curation.checks import parse_num_words, text_checks
from studio.curation.language_id import mismatch
from studio.curation.mining import MiningSettings, pick_in_window, run_mining_job
from studio.curation.quality import QualitySettings, run_quality_job, union_groups
from studio.demo.loader import demo_examples
from studio.jobs import JobContext

TOPICS = ["volcano eruption lava", "chess opening strategy", "sourdough bread baking", "jazz saxophone solo",
          "tax return deadline", "marathon training plan", "python list comprehension", "roman empire fall",
          "coral reef bleaching", "electric car battery", "medieval castle siege", "honey bee colony",
          "solar eclipse viewing", "knitting a scarf", "stock market crash", "dinosaur fossil dig",
          "quantum computing qubit", "wine tasting notes", "mountain bike repair", "origami crane folding"]


def test_language_identifier_names_the_language_a_text_is_in():
    english = "The meeting starts at half past nine on Tuesday in room 214."
    found = mismatch(english, "Uzbek")
    assert found is not None and found.detected == "English" and found.probability > 0.6
    assert mismatch(english, "English") is None
    assert mismatch("Uchrashuv seshanba kuni soat to'qqiz yarimda 214-xonada boshlanadi.", "Uzbek") is None
    assert mismatch("Fernweh", "English") is None  # a word or two is too short to judge
    # Close varieties the model cannot tell apart are not a mismatch.
    assert mismatch("Sastanak počinje u utorak u devet i trideset u sobi 214.", "Croatian") is None
    assert mismatch("Sastanak počinje u utorak u devet i trideset u sobi 214.", "Serbian") is None


def test_num_words_parsing_and_length_flags():
    assert parse_num_words("200") == ("min", 200)
    assert parse_num_words("at least 50") == ("min", 50)
    assert parse_num_words("less than 10") == ("max", 10)
    row = {"family": "short-long", "language": "English", "query": "q", "positive": "word " * 20,
           "negative": "n"}
    short = text_checks(row, {"num_words": "100"}, True)
    assert short["q_length_flag"] == 1 and short["q_length_ratio"] == pytest.approx(0.2)
    assert text_checks(row, {"num_words": "50"}, True)["q_length_flag"] == 1
    row["positive"] = "word " * 120
    assert text_checks(row, {"num_words": "100"}, True)["q_length_flag"] == 0
    label = {"family": "long-short", "language": "English", "query": "w " * 30, "positive": "x", "negative": "y"}
    assert text_checks(label, {"num_words": "less than 10"}, True)["q_length_flag"] == 1


def test_empty_fields_and_text_in_another_language_are_flagged():
    row = {"family": "short-long", "language": "Russian", "query": "Как испечь хлеб дома без дрожжей?",
           "positive": "This answer is written in English instead of Russian", "negative": "  "}
    checks = text_checks(row, {}, True)
    assert checks["q_language_flag"] == 1 and checks["q_empty_flag"] == 1
    assert "positive is in English, not Russian" in checks["problems"]
    uzbek = {"family": "sts", "language": "Uzbek", "query": "The weather in the mountains changes very quickly.",
             "positive": "Mountain weather can turn suddenly.", "negative": None}
    assert "query is in English, not Uzbek" in text_checks(uzbek, {}, False)["problems"]


def test_cross_language_by_design_is_not_a_mismatch():
    bitext = {"family": "bitext", "language": "English", "query": "Good morning, how did you sleep last night?",
              "positive": "Доброе утро, как ты спал прошлой ночью?", "negative": "Добрый вечер, как ты спал прошлой ночью?"}
    assert text_checks(bitext, {"src_lang": "English", "tgt_lang": "Russian"}, True)["q_language_flag"] == 0
    assert text_checks(bitext, {}, True)["q_language_flag"] == 0  # imported: the target is not recorded
    # Each side is still checked against its own language.
    wrong = text_checks(bitext, {"src_lang": "English", "tgt_lang": "German"}, True)
    assert wrong["q_language_flag"] == 1 and "positive is in Russian, not German" in wrong["problems"]
    label = {"family": "long-short", "language": "Chinese", "query": "由于连续多日强降雨,当地河流水位迅速上涨,部分村庄出现内涝。",
             "positive": "weather and disasters", "negative": "politics"}
    assert text_checks(label, {}, True)["q_language_flag"] == 0


def test_no_demo_row_is_flagged_for_its_language():
    # The old script check flagged 19 of these correct rows (bitext translations, long-short labels).
    flagged = [row for row in demo_examples() if text_checks(row, {}, True)["q_language_flag"]]
    assert flagged == []


def test_union_groups_joins_transitively():
    vectors = np.array([[1, 0], [0.99, 0.141], [0, 1], [0.97, 0.243]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert union_groups(vectors, 0.985) == [0, 0, 2, 0]


@pytest.fixture
def quality_db(db_path):
    db = open_db(db_path)
    rows = []
    for i, topic in enumerate(TOPICS[:8]):
        rows.append({"family": "short-long", "language": "English", "instruction": "Retrieve a helpful document",
                     "query": f"how does {topic} work", "positive": f"A detailed explanation of {topic}: " * 6,
                     "negative": f"An unrelated note about {TOPICS[(i + 10) % len(TOPICS)]}.",
                     "placeholders": {"num_words": "50"}, "status": "accepted" if i == 1 else "pending"})
    # The negative answers the query better than the positive does: a margin flag.
    rows[0]["negative"], rows[0]["positive"] = rows[0]["positive"], "Completely off-topic text about knitting."
    # A near-duplicate of row 1 (one word differs, so exact/normalised dedup keeps both).
    rows.append({**rows[1], "query": rows[1]["query"].replace("how does", "how do"), "status": "pending"})
    rows.append({"family": "sts", "language": "Russian", "instruction": "Retrieve semantically similar text.",
                 "query": "Кошка спит на диване", "positive": "The cat sleeps on the sofa", "negative": "Собака"})
    result = insert_examples(db, rows)
    assert result.inserted == len(rows)
    return db, result.ids


def test_quality_job_stores_margin_duplicate_length_and_language_signals(quality_db, db_path):
    db, ids = quality_db
    job = JobContext.create(db_path, "quality", {})
    stats = run_quality_job(job, QualitySettings(model="minilm", dup_threshold=0.95))
    assert stats["examples"] == len(ids)
    rows = {row["id"]: row for row in db.query("SELECT * FROM examples")}
    assert rows[ids[0]]["q_margin_flag"] == 1 and rows[ids[0]]["q_margin"] <= 0
    assert all(rows[i]["q_margin_flag"] == 0 and rows[i]["q_margin"] > 0 for i in ids[2:8])
    # The duplicate pair is one group that keeps the accepted one.
    assert rows[ids[1]]["q_dup_group"] == rows[ids[8]]["q_dup_group"] == ids[1]
    assert rows[ids[8]]["q_dup_size"] == 2 and rows[ids[2]]["q_dup_group"] is None
    assert curation.count(db, ExampleFilter(flags=("duplicate_extra",))) == 1
    # Row 0's positive is a short sentence, far below num_words 50.
    assert rows[ids[0]]["q_length_flag"] == 1 and rows[ids[3]]["q_length_flag"] == 0
    assert rows[ids[9]]["q_language_flag"] == 1 and "positive is in English, not Russian" in rows[ids[9]]["q_problems"]
    assert all(row["q_model"] == "minilm" for row in rows.values())
    margin_sorted = curation.page(db, ExampleFilter(), sort="margin").rows
    assert margin_sorted[0]["id"] == ids[0]
    assert json.loads(db.execute("SELECT stats FROM jobs WHERE id = ?", [job.job_id]).fetchone()[0])[
        "margin_flags"] >= 1


@pytest.fixture
def mining_db(db_path):
    db = open_db(db_path)
    rows = [{"family": "short-short", "language": "English", "instruction": "Find the definition",
             "query": f"what is {topic}", "positive": f"{topic}: a short definition", "negative": None,
             "status": "accepted"} for topic in TOPICS]
    rows.append({"family": "long-long", "language": "English", "instruction": "Find a similar article",
                 "query": "an article on gardening", "positive": "a related gardening article", "negative": None})
    result = insert_examples(db, rows)
    return db, result.ids


def test_mining_takes_negatives_from_the_rank_window(mining_db, db_path):
    db, ids = mining_db
    job = JobContext.create(db_path, "mining", {})
    settings = MiningSettings(model="minilm", families=("short-short", "long-long"), rank_from=3, rank_to=5)
    stats = run_mining_job(job, settings)
    # long-long has no accepted pool, so its example is skipped.
    assert stats["mined"] == len(TOPICS) and stats["skipped"] == 1
    from studio.embedding import load_model

    model = load_model("minilm")
    pool = sorted(f"{topic}: a short definition" for topic in TOPICS)
    docs = model.encode_documents(pool)
    for example_id in ids[:5]:
        row = get_example(db, example_id)
        assert row["negative_mined"] == 1 and row["negative"] != row["positive"]
        scores = model.encode_queries([row["query"]], instruction=row["instruction"])[0] @ docs.T
        order = [pool[j] for j in np.argsort(-scores, kind="stable") if pool[j] != row["positive"]]
        assert row["negative"] in order[2:5]
        (entry,) = curation.history(db, example_id)
        assert entry["action"] == "mine" and entry["before"]["negative"] is None
    assert curation.count(db, ExampleFilter(flags=("mined",))) == len(TOPICS)
    # Mining is one undoable action.
    curation.undo_last(db)
    assert curation.count(db, ExampleFilter(flags=("no_negative",))) == len(ids)


def test_pick_in_window_stays_inside_ranks():
    import random

    order = list(range(100))
    picks = {pick_in_window(order, 10, 50, random.Random(seed)) for seed in range(300)}
    assert min(picks) >= 9 and max(picks) <= 49 and len(picks) > 20
    assert pick_in_window(list(range(5)), 10, 50, random.Random(0)) is None


def test_migration_26_renames_the_script_flag_and_keeps_the_view_writable(db_path, monkeypatch):
    from storage import db as db_module

    old = open_db(db_path, migrate=False)
    before = [m for m in db_module.available_migrations() if m[0] < 26]
    monkeypatch.setattr(db_module, "available_migrations", lambda: before)
    db_module.apply_migrations(old)
    old.execute("INSERT INTO examples (family, query, positive, content_hash, norm_hash, q_script_flag)"
                " VALUES ('sts', 'a query', 'a positive', 'c1', 'n1', 1)")
    old.conn.close()
    monkeypatch.undo()
    db = open_db(db_path)
    assert db.execute("SELECT q_language_flag FROM examples").fetchall() == [(1,)]
    assert curation.count(db, ExampleFilter(flags=("language",))) == 1
    db.execute("UPDATE examples SET q_language_flag = 0")  # the view's write triggers name the new column
    db.execute("INSERT INTO examples (family, query, positive, content_hash, norm_hash, q_language_flag)"
               " VALUES ('sts', 'b query', 'b positive', 'c2', 'n2', 1)")
    assert db.execute("SELECT q_language_flag FROM example_rows ORDER BY id").fetchall() == [(0,), (1,)]
