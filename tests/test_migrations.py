"""Every migration, replayed: on an empty database and on a database written at each earlier
schema (tests/fixtures/schemas, made by tests/fixtures/make_schema_fixtures.py), the store ends
with today's schema and keeps its rows."""

import re
import shutil
from pathlib import Path

import pytest

from storage.db import available_migrations, open_db, schema_version

FIXTURES = Path(__file__).parent / "fixtures" / "schemas"


def schema(db) -> dict[tuple[str, str], str]:
    return {(kind, name): re.sub(r"\s+", " ", sql).strip() for kind, name, sql in db.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name")}


@pytest.fixture(scope="module")
def today(tmp_path_factory):
    db = open_db(tmp_path_factory.mktemp("fresh") / "fresh.db")
    return schema(db), schema_version(db)


def test_every_fixture_is_a_schema_the_store_has_had():
    versions = {version for version, _, _ in available_migrations()}
    have = {int(path.stem[1:]) for path in FIXTURES.glob("v*.db")}
    assert {1, 10, 20, 21, 22, 23, 24, 40, 41} <= have <= versions


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("v*.db")), ids=lambda path: path.stem)
def test_an_old_store_migrates_to_todays_schema_with_its_rows(fixture, tmp_path, today):
    copy = tmp_path / "old.db"
    shutil.copy(fixture, copy)
    db = open_db(copy)
    assert schema_version(db) == today[1]
    assert schema(db) == today[0]
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = list(db.query("SELECT query, negative, status FROM examples ORDER BY id"))
    assert [(row["query"], row["status"]) for row in rows] == [
        ("soft boiled egg minutes", "accepted"), ("Katze", "pending"), ("猫の写真", "rejected")]
    assert rows[1]["negative"] is None
    found = db.execute("SELECT rowid FROM examples_fts WHERE examples_fts MATCH 'boiled'").fetchall()
    assert [row[0] for row in found] == [1]
    for table in ("tasks", "template_versions", "example_history", "runs", "run_metrics", "evaluations", "jobs"):
        assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] >= 1, table


def test_a_blank_negative_stored_by_older_code_becomes_none(tmp_path):
    copy = tmp_path / "old.db"
    shutil.copy(FIXTURES / "v0024.db", copy)
    old = open_db(copy, migrate=False)
    old.execute("UPDATE example_texts SET negative = '  ' WHERE id = 2")
    old.conn.close()
    db = open_db(copy)
    assert db.execute("SELECT negative FROM examples WHERE id = 2").fetchone()[0] is None
