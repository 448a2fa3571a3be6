from storage import curation
from storage.curation import ExampleFilter
from storage.db import now, open_db
from storage.examples import insert_examples
from studio.curation import stats
from tests.example_rows import make_rows


def test_counts_rates_and_failures(db_path):
    db = open_db(db_path)
    insert_examples(db, make_rows(12))
    curation.set_status(db, ExampleFilter(model="gpt-4"), "accepted")
    curation.set_status(db, ExampleFilter(model="gpt-3.5", family="long-short"), "rejected")
    db.execute("INSERT INTO generation_failures (job_id, family, reason, raw, created_at) VALUES"
               " (1, 'sts', 'invalid JSON', 'x', ?), (1, 'sts', 'invalid JSON', 'y', ?), (1, 'sts', 'missing key', 'z', ?)",
               [now(), now(), now()])
    counts = stats.family_status_counts(db)
    assert counts["short-long"] == {"accepted": 2} and counts["long-short"] == {"rejected": 2}
    assert sum(n for _, n in stats.language_counts(db)) == 12
    rates = {r["label"]: r for r in stats.acceptance_rates(db, "model")}
    assert rates["gpt-4"]["rate"] == 1.0
    assert rates["gpt-3.5"]["rate"] == 0.0 and rates["gpt-3.5"]["total"] == 6
    assert stats.failure_counts(db) == [("invalid JSON", 2), ("missing key", 1)]
    lengths = stats.field_lengths(db)
    assert len(lengths["query"]) == 12 and len(lengths["negative"]) == 8
    figures = stats.all_charts(db)
    assert len(figures) == 6
    stacked = figures[0].to_dict()["data"]
    assert [trace["name"] for trace in stacked] == ["pending", "accepted", "rejected"]


def test_charts_work_on_an_empty_store(db_path):
    db = open_db(db_path)
    assert all(fig.to_dict()["layout"]["title"] for fig in stats.all_charts(db))
