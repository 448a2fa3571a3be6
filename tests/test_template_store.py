import pytest

from storage.db import open_db
from studio.prompts.versions import active_template, history, reset_to_default, revert_to, save_template
from studio.errors import StudioError
from studio.prompts.families import load_family

GOOD = "Write {{ unit }}s in {{ language }} as JSON with S1, S2 and S3 ({{ high_score }} vs {{ low_score }}, {{ difficulty }})."


def test_defaults_are_seeded_as_version_one(db_path):
    row = active_template(open_db(db_path), "sts", "generate", "v1")
    assert (row["version"], row["source"], row["body"]) == (1, "default", load_family("sts").generate["v1"])


def test_save_validates_and_makes_a_new_active_version(db_path):
    db = open_db(db_path)
    row = save_template(db, "sts", "generate", "v1", GOOD, note="shorter")
    assert (row["version"], row["active"]) == (2, 1)
    assert active_template(db, "sts", "generate", "v1")["body"] == GOOD
    assert [r["version"] for r in history(db, "sts", "generate", "v1")] == [2, 1]


def test_refused_template_keeps_the_previous_version_active(db_path):
    db = open_db(db_path)
    save_template(db, "sts", "generate", "v1", GOOD)
    with pytest.raises(StudioError):
        save_template(db, "sts", "generate", "v1", "S1 S2 S3 {{ ''.__class__ }}")
    assert active_template(db, "sts", "generate", "v1")["body"] == GOOD
    assert len(history(db, "sts", "generate", "v1")) == 2


def test_unchanged_text_makes_no_new_version(db_path):
    db = open_db(db_path)
    save_template(db, "sts", "generate", "v1", GOOD)
    save_template(db, "sts", "generate", "v1", GOOD + "\n")
    assert len(history(db, "sts", "generate", "v1")) == 2


def test_revert_and_reset_add_versions_without_rewriting_history(db_path):
    db = open_db(db_path)
    first = active_template(db, "sts", "generate", "v1")
    save_template(db, "sts", "generate", "v1", GOOD)
    reverted = revert_to(db, first["id"])
    assert (reverted["version"], reverted["body"], reverted["source"]) == (3, first["body"], "revert")
    save_template(db, "sts", "generate", "v1", GOOD)
    reset = reset_to_default(db, "sts", "generate", "v1")
    assert (reset["version"], reset["source"]) == (5, "reset")
    assert reset["body"] == load_family("sts").generate["v1"]


def test_a_new_variant_joins_the_mix(db_path):
    db = open_db(db_path)
    save_template(db, "sts", "generate", "v3", GOOD)
    from studio.prompts.versions import active_templates

    assert [row["variant"] for row in active_templates(db, "sts", "generate")] == ["v1", "v2", "v3"]
