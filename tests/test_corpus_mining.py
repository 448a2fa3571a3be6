"""Hard negatives from a corpus: never the positive's document, from the rank window, positive-aware."""

import random
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from storage import corpora, curation
from storage.curation import ExampleFilter
from storage.db import open_db
from storage.examples import get_example, insert_examples
from studio.config import REPO_ROOT
from studio.corpus.importer import add_corpus
from studio.corpus.mining import CorpusMiningSettings, choose_negative, parse_window, run_corpus_mining_job
from studio.errors import StudioError
from studio.jobs import JobContext
from tests.corpus_files import TOPICS, write_beir_corpus



@pytest.fixture
def corpus_db(db_path, tmp_path):
    """Ten two-passage documents (7 words a passage, 1 shared) and one example per document's first passage."""
    db = open_db(db_path)
    add_corpus(db, write_beir_corpus(tmp_path / "corpus.jsonl", [(name, name, text) for name, text in TOPICS.items()]),
               name="topics", chunk=8, overlap=1)
    corpus_id = corpora.corpus_by_name(db, "topics")["id"]
    passages = corpora.passages_of(db, corpus_id)
    firsts = [p for p in passages if p["position"] == 0]
    rows = [{"family": "short-long", "language": "English", "instruction": "Find the passage",
             "query": f"tell me about {p['doc_id']}", "positive": p["text"], "negative": None, "status": "pending"}
            for p in firsts]
    rows.append({"family": "short-long", "language": "English", "instruction": "Find the passage",
                 "query": "not from the corpus", "positive": "a text that is no passage", "negative": None})
    ids = insert_examples(db, rows).ids
    return db, passages, ids


def _scores(model, query, instruction, texts):
    return model.encode_queries([query], instruction=instruction)[0] @ model.encode_documents(texts).T


def test_mining_never_takes_the_positives_document_and_keeps_to_the_window_and_ratio(corpus_db, db_path):
    db, passages, ids = corpus_db
    # fp32: the ranks and margins are recomputed below in fp32 (bf16 has its own test, test_corpus_precision.py)
    settings = CorpusMiningSettings(corpus="topics", rank_from=2, rank_to=6, max_ratio=0.95, precision="fp32")
    stats = run_corpus_mining_job(JobContext.create(db_path, "mining", settings.as_args()), settings)
    assert stats["targets"] == len(TOPICS) and stats["passages"] == len(passages)
    assert stats["mined"] + stats["too_close"] + stats["too_few"] + stats["duplicates"] == len(TOPICS)
    assert stats["mined"] >= 5
    from studio.embedding import load_model

    model = load_model("minilm")
    texts = [p["text"] for p in passages]
    doc_of = {p["text"]: p["doc_id"] for p in passages}
    mined = 0
    for example_id in ids[:-1]:
        row = get_example(db, example_id)
        if row["negative"] is None:
            continue
        mined += 1
        own = doc_of[row["positive"]]
        assert doc_of[row["negative"]] != own
        scores = _scores(model, row["query"], row["instruction"], texts)
        ranked = [texts[j] for j in np.argsort(-scores, kind="stable") if doc_of[texts[j]] != own]
        assert row["negative"] in ranked[1:6]
        positive, negative = scores[texts.index(row["positive"])], scores[texts.index(row["negative"])]
        assert negative <= 0.95 * positive + 1e-5
        assert row["q_margin"] == pytest.approx(positive - negative, abs=1e-4)
        link = db.execute("SELECT negative_passage_id, positive_score, negative_score FROM example_passages"
                          " WHERE example_id = ?", [example_id]).fetchone()
        assert passages[[p["id"] for p in passages].index(link[0])]["text"] == row["negative"]
        assert link[1] == pytest.approx(positive, abs=1e-4) and link[2] == pytest.approx(negative, abs=1e-4)
    assert mined == stats["mined"]
    assert get_example(db, ids[-1])["negative"] is None   # its positive is not a passage of the corpus
    assert curation.count(db, ExampleFilter(flags=("mined",))) == mined
    curation.undo_last(db)   # one undoable action
    assert curation.count(db, ExampleFilter(flags=("mined",))) == 0


def test_a_candidate_above_the_share_of_the_positive_is_not_a_negative():
    settings = SimpleNamespace(rank_from=1, rank_to=3, max_ratio=0.9)
    scores = {0: 0.85, 1: 0.82, 2: 0.5, 3: 0.1}
    picks = {choose_negative([0, 1, 2, 3], scores, 0.9, settings, random.Random(seed))[0] for seed in range(30)}
    assert picks == {2}   # 0.85 and 0.82 score above 0.9 × 0.9; rank 4 is outside the window
    assert choose_negative([0, 1], scores, 0.9, settings, random.Random(0)) == (None, "too_close")
    assert choose_negative([], scores, 0.9, settings, random.Random(0)) == (None, "too_few")
    settings.max_ratio = 1.0
    assert {choose_negative([0, 1, 2, 3], scores, 0.9, settings, random.Random(s))[0] for s in range(30)} == {0, 1, 2}


def test_window_parsing():
    assert parse_window("10:50") == (10, 50)
    for bad in ("10", "a:b", "0:5", "9:3"):
        with pytest.raises(StudioError):
            parse_window(bad)


def test_cli_mines_from_a_corpus_and_refuses_an_unknown_one(corpus_db, db_path):
    db, passages, ids = corpus_db
    run = subprocess.run([sys.executable, "-m", "studio", "mine", "--corpus", "topics", "--window", "1:4",
                          "--max-ratio", "1", "--db", str(db_path)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"mined {len(TOPICS)} negative(s) for {len(TOPICS)} example(s) over {len(passages)} passage(s)")
    assert all(get_example(db, i)["negative_mined"] == 1 for i in ids[:-1])
    for args, reason in ((["--corpus", "nope"], "no corpus named 'nope'"), (["--corpus", "topics", "--window", "5"],
                         "not FROM:TO"), (["--corpus", "topics", "--max-ratio", "1.5"], "--max-ratio must be")):
        bad = subprocess.run([sys.executable, "-m", "studio", "mine", *args, "--db", str(db_path)], cwd=REPO_ROOT,
                             capture_output=True, text=True)
        assert bad.returncode == 2 and reason in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_the_ui_starts_mining_as_a_background_job_and_says_how_it_ended(corpus_db, db_path):
    from studio.corpus.jobs import jobs_status, launch_mine, refuse_if_running
    from tests.waiting import wait_for

    db, _, ids = corpus_db
    assert jobs_status(db, "topics") == "No jobs for corpus 'topics' yet."
    job_id = launch_mine(db_path, "topics", window="1:4", max_ratio=1.0)
    with pytest.raises(StudioError, match=f"job {job_id} is already working on 'topics'"):
        refuse_if_running(db, "topics", "mining")
    status = wait_for(lambda: (text := jobs_status(db, "topics")).startswith(("✓", "⚠")) and text, timeout=120,
                      what="the mining job to end")
    assert status.startswith(f"✓ mine (job {job_id}): mined {len(TOPICS)} negative(s)")
    assert all(get_example(db, i)["negative_mined"] == 1 for i in ids[:-1])
