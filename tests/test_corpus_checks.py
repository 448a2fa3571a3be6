"""Checks against a corpus: each flag with its reason, filterable; the judge's proposals applied only on accept."""

import json
import re
import subprocess
import sys

import pytest

from storage import corpora, curation
from storage.curation import ExampleFilter
from storage.db import open_db
from storage.examples import get_example, insert_examples
from studio.config import REPO_ROOT
from studio.corpus import proposals
from studio.corpus.checks import CheckSettings, copied_reason, longest_run, run_check_job
from studio.corpus.importer import add_corpus
from studio.jobs import JobContext
from tests.corpus_files import write_beir_corpus
from tests.fake_openai import fake  # noqa: F401 (a fixture)
from tests.test_corpus_mining import TOPICS


@pytest.fixture
def checked_db(db_path, tmp_path):
    db = open_db(db_path)
    add_corpus(db, write_beir_corpus(tmp_path / "corpus.jsonl", [(name, name, text) for name, text in TOPICS.items()]),
               name="topics", chunk=8, overlap=1)
    by_start = {p["text"].split()[0] + str(p["position"]): p["text"]
                for p in corpora.passages_of(db, corpora.corpus_by_name(db, "topics")["id"])}
    volcano, crater, castle = by_start["volcano0"], by_start["the1"], by_start["medieval0"]
    rows = {
        "good": ("how does a volcano erupt and spread ash", volcano, "English", None),
        "lost": ("which chess opening controls the centre", by_start["sourdough0"], "English", None),
        "copied": ("volcano eruption sends lava and ash", volcano, "English", None),
        "russian": ("how does a volcano erupt and spread lava", volcano, "Russian", None),
        "short": ("volcano", volcano, "English", None),
        "judged": ("where does magma come from in an eruption", crater, "English", castle),
    }
    ids = insert_examples(db, [{"family": "short-long", "language": language, "instruction": "Find the passage",
                                "query": query, "positive": positive, "negative": negative}
                               for query, positive, language, negative in rows.values()]).ids
    return db, dict(zip(rows, ids)), {"volcano": volcano, "crater": crater, "castle": castle}


def _check(db_path, **options):
    settings = CheckSettings(corpus="topics", **options)
    return run_check_job(JobContext.create(db_path, "check", settings.as_args()), settings)


def _flags(db, example_id):
    row = db.execute("SELECT rank, not_found, copied, wrong_language, off_length, false_negative, reasons"
                     " FROM example_checks WHERE example_id = ?", [example_id]).fetchone()
    return dict(zip(("rank", "not_found", "copied", "wrong_language", "off_length", "false_negative", "reasons"), row))


def test_copied_means_most_of_the_query_in_order():
    assert longest_run("a b c d".split(), "x a b c y d".split()) == 3
    assert copied_reason("Volcano eruption sends lava, and ash!", "volcano eruption sends lava and ash over") \
        == "copied: 6 of the query's 6 words appear in order in the passage"
    assert copied_reason("ash and lava sends eruption volcano", "volcano eruption sends lava and ash over") is None
    assert copied_reason("lava ash", "lava ash") is None   # too short to call
    assert copied_reason("The Moon guide", "text", title="the moon guide") == "copied: the query is the passage's title"


def test_each_check_flags_its_examples_with_a_reason_and_curate_filters_by_flag(checked_db, db_path):
    db, ids, _ = checked_db
    stats = _check(db_path, consistency_k=3)
    assert stats["examples"] == len(ids)
    good, lost = _flags(db, ids["good"]), _flags(db, ids["lost"])
    assert good["not_found"] == 0 and 1 <= good["rank"] <= 3 and good["reasons"] is None
    assert lost["not_found"] == 1 and lost["rank"] is None
    assert lost["reasons"].startswith("not found: the positive is not in the top 3 passages")
    assert _flags(db, ids["copied"])["copied"] == 1
    assert _flags(db, ids["russian"])["wrong_language"] == 1
    assert "query is in English, not Russian" in _flags(db, ids["russian"])["reasons"]
    assert _flags(db, ids["short"])["off_length"] == 1 and "too short" in _flags(db, ids["short"])["reasons"]
    for flag, name in (("not_found", "lost"), ("copied", "copied"), ("wrong_language", "russian"),
                       ("off_length", "short")):
        shown = [row["id"] for row in curation.page(db, ExampleFilter(flags=(flag,)), limit=50).rows]
        assert ids[name] in shown and ids["good"] not in shown
    # The one-word query is its passage's title, word for word: copied too.
    assert "copied: the query is the passage's title" in _flags(db, ids["short"])["reasons"]
    rejected = curation.set_status(db, ExampleFilter(flags=("copied",)), "rejected")   # bulk reject by flag
    assert rejected.count == 2 and get_example(db, ids["copied"])["status"] == "rejected"
    assert get_example(db, ids["good"])["status"] == "pending"


def _grader(prompt):
    """3 for passages about an eruption, 2 for the castle, 0 for the rest."""
    grades = []
    for line in re.findall(r"^\s*\[\d+\].*$", prompt, flags=re.M):
        grades.append(3 if "eruption" in line else 2 if "castle" in line else 0)
    return grades


def test_the_judge_proposes_and_nothing_changes_until_a_person_accepts(checked_db, db_path, fake, monkeypatch):
    db, ids, texts = checked_db
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    monkeypatch.setenv("STUDIO_LLM_MODEL", "fake-model")
    fake.grader = _grader
    stats = _check(db_path, judge=True, judge_top=4)
    assert fake.chat_requests() and stats["proposals"] >= 2
    judged = _flags(db, ids["judged"])
    assert judged["false_negative"] == 1 and "false negative: the judge graded the negative 2" in judged["reasons"]
    open_ = {p["field"]: p for p in proposals.open_proposals(db, [ids["judged"]])}
    assert open_["positive"]["text"] == texts["volcano"]      # graded 3 against the positive's 0
    assert "castle" not in open_["negative"]["text"] and "eruption" not in open_["negative"]["text"]
    assert "volcano" not in open_["negative"]["text"].split()[0]   # never the positive's own document
    before = get_example(db, ids["judged"])
    assert (before["positive"], before["negative"]) == (texts["crater"], texts["castle"])   # not applied yet
    assert curation.count(db, ExampleFilter(flags=("proposal",))) >= 1
    proposals.accept(db, [open_["positive"]["id"], open_["negative"]["id"]])
    after = get_example(db, ids["judged"])
    assert (after["positive"], after["negative"]) == (texts["volcano"], open_["negative"]["text"])
    assert proposals.open_proposals(db, [ids["judged"]]) == []
    curation.undo_last(db)   # one undoable action
    assert get_example(db, ids["judged"])["positive"] == texts["crater"]


def test_dismissed_proposals_change_nothing(checked_db, db_path, fake, monkeypatch):
    db, ids, texts = checked_db
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    monkeypatch.setenv("STUDIO_LLM_MODEL", "fake-model")
    fake.grader = _grader
    _check(db_path, judge=True, judge_top=4)
    open_ = proposals.open_proposals(db, [ids["judged"]])
    assert proposals.dismiss(db, [p["id"] for p in open_]) == len(open_)
    assert get_example(db, ids["judged"])["positive"] == texts["crater"]
    with pytest.raises(Exception, match="dismissed already"):
        proposals.accept(db, [open_[0]["id"]])


def test_cli_check_prints_what_each_check_found(checked_db, db_path):
    run = subprocess.run([sys.executable, "-m", "studio", "check", "--corpus", "topics", "--consistency-k", "3",
                          "--db", str(db_path)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert re.match(r"checked 6 example\(s\) against \d+ passage\(s\): [1-9]\d* not found, 2 copied, 1 wrong language, "
                    r"[1-9]\d* off length", run.stdout)
    bad = subprocess.run([sys.executable, "-m", "studio", "check", "--corpus", "nope", "--db", str(db_path)],
                         cwd=REPO_ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "no corpus named 'nope'" in bad.stderr


def test_cli_lists_and_accepts_proposals_in_bulk(checked_db, db_path, fake, monkeypatch):
    db, ids, texts = checked_db
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    monkeypatch.setenv("STUDIO_LLM_MODEL", "fake-model")
    fake.grader = _grader
    _check(db_path, judge=True, judge_top=4)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "studio", "proposals", *args, "--db", str(db_path)],
                              cwd=REPO_ROOT, capture_output=True, text=True)

    listed = json.loads(cli("list", "--json").stdout)
    assert listed and {row["id"] for row in listed} == {p["id"] for p in proposals.open_proposals(db)}
    neither = cli("accept")
    assert neither.returncode == 2 and "or --all" in neither.stderr
    accepted = cli("accept", "--all")
    assert accepted.returncode == 0 and accepted.stdout.strip() == f"accepted {len(listed)} proposal(s)"
    assert get_example(db, ids["judged"])["positive"] == texts["volcano"]
    assert cli("list").stdout.startswith("no open proposals")
