"""Evaluation on a user's corpus: runs trained on grounded examples hold out whole documents, their
held-out queries search the whole corpus, and `corpus:NAME` is the corpus's queries no run trained on."""

import json

import pytest

from storage import corpora, curation
from storage import evaluations as evaluation_rows
from storage import runs as run_rows
from storage.db import open_db
from storage.examples import insert_examples
from studio.cli import main
from studio.corpus.importer import add_corpus
from studio.corpus.index import fingerprint
from studio.errors import StudioError
from studio.evaluation import choices, compare
from studio.evaluation.corpus_set import corpus_dataset
from studio.evaluation.heldout import heldout_dataset
from studio.evaluation.runner import load_dataset
from studio.training.data import load_examples, trained_documents
from studio.training.split import split_heldout
from tests.corpus_files import write_beir_corpus
from tests.tiny_models import build_tiny_encoder

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()


def _document(n: int) -> str:
    """24 words: three 8-word passages with chunk 8 and no overlap."""
    return " ".join(f"{WORDS[(n + i) % len(WORDS)]}{n}" for i in range(24))


@pytest.fixture
def grounded(db_path, tmp_path):
    """Corpus `docs` of 12 documents (3 passages each); two accepted queries for each of the first two
    passages of every document, and four examples that come from no corpus."""
    db = open_db(db_path)
    add_corpus(db, write_beir_corpus(tmp_path / "corpus.jsonl", [(f"doc{n}", f"Doc {n}", _document(n))
                                                                 for n in range(12)]),
               name="docs", chunk=8, overlap=0)
    corpus_id = corpora.corpus_by_name(db, "docs")["id"]
    passages = corpora.passages_of(db, corpus_id)
    rows, links = [], []
    for passage in [p for p in passages if p["position"] < 2]:
        for k in range(2):
            rows.append({"family": "short-long", "language": "English", "instruction": "Find the passage",
                         "query": f"query {k} about {passage['text'].split()[k]}", "positive": passage["text"],
                         "negative": None, "status": "accepted"})
            links.append(passage["id"])
    for n in range(4):
        rows.append({"family": "short-long", "language": "English", "instruction": f"Task {n}",
                     "query": f"free query {n}", "positive": f"free positive {n}", "negative": f"free negative {n}",
                     "status": "accepted"})
    ids = insert_examples(db, rows).ids
    db.conn.executemany("INSERT INTO example_passages (example_id, corpus_id, passage_id) VALUES (?, ?, ?)",
                        [[example_id, corpus_id, passage_id] for example_id, passage_id in zip(ids, links)])
    db.conn.commit()
    return db, corpus_id, passages, ids


def _run(db, split, **config) -> int:
    """A run's row as the trainer writes it for this split."""
    return run_rows.create_run(db, None, "r", "minilm", {"heldout_ids": [e.id for e in split.heldout],
                                                         "train_ids": [e.id for e in split.train],
                                                         "trained_documents": trained_documents(split.train),
                                                         **config}, "/nowhere", {})


def test_grounded_examples_are_held_out_by_document(grounded):
    db, _, _, _ = grounded
    examples = load_examples(db)
    assert sum(e.document is not None for e in examples) == 48
    split = split_heldout(examples, 0.25, seed=3)
    held_docs = {e.document for e in split.heldout if e.document}
    train_docs = {e.document for e in split.train if e.document}
    assert held_docs and train_docs and not held_docs & train_docs
    assert split.by_kind["documents"] == (3, 12)
    assert "held out 1 of 4 tasks and 3 of 12 documents" in split.describe()
    assert "every passage of their corpus" in split.describe()
    # by task, every grounded example shares one task (its instruction), so no document is held out whole
    by_task = split_heldout(examples, 0.25, seed=3, group_by="task")
    assert "documents" not in by_task.by_kind


def test_a_runs_heldout_queries_search_every_passage_of_their_corpus(grounded):
    db, corpus_id, passages, _ = grounded
    split = split_heldout(load_examples(db), 0.25, seed=3)
    run_id = _run(db, split)
    dataset = heldout_dataset(db, run_id)
    passage_ids = {f"p{p['id']}" for p in passages}
    assert passage_ids <= set(dataset.doc_ids)
    assert len(dataset.doc_ids) == len(passages) + 8   # + the free examples' positives and negatives
    by_id = {p["id"]: p["text"] for p in passages}
    for example in split.heldout:
        relevant = dataset.qrels[str(example.id)]
        doc_id = next(iter(relevant))
        if example.document:
            assert by_id[int(doc_id[1:])] == example.positive
        else:
            assert doc_id.startswith("d")
    # during training, a seeded sample of other passages stands in for the corpus
    sample = heldout_dataset(db, run_id, corpus_passages_sample=5)
    grounded_positives = {next(iter(sample.qrels[str(e.id)])) for e in split.heldout if e.document}
    sampled = {d for d in sample.doc_ids if d.startswith("p")}
    assert grounded_positives <= sampled and len(sampled) == len(grounded_positives) + 5
    assert heldout_dataset(db, run_id, corpus_passages_sample=5).doc_ids == sample.doc_ids


def test_a_corpus_set_of_passages_only_shares_the_corpus_vectors_name(grounded):
    db, corpus_id, passages, ids = grounded
    grounded_only = [e for e in load_examples(db) if e.document]
    split = split_heldout(grounded_only, 0.25, seed=5)
    run_id = _run(db, split)
    dataset = heldout_dataset(db, run_id)
    corpus = corpora.corpus_by_name(db, "docs")
    assert dataset.doc_ids == [f"p{p['id']}" for p in passages]
    assert dataset.fingerprint == fingerprint(corpus)
    assert heldout_dataset(db, run_id, corpus_passages_sample=5).fingerprint != fingerprint(corpus)


def test_the_corpus_set_holds_only_queries_whose_document_no_run_trained_on(grounded):
    db, corpus_id, passages, ids = grounded
    everything = corpus_dataset(db, "docs")
    assert len(everything.queries) == 48 and len(everything.doc_ids) == len(passages)
    assert not everything.warnings
    split = split_heldout(load_examples(db), 0.25, seed=3)
    _run(db, split)
    dataset = corpus_dataset(db, "docs")
    trained_docs = {e.document for e in split.train if e.document}
    doc_of = {p["id"]: f"{corpus_id}:{p['doc_id']}" for p in passages}
    assert len(dataset.queries) == 12                       # 3 held-out documents × 2 passages × 2 queries
    for query_id, relevant in dataset.qrels.items():
        assert doc_of[int(next(iter(relevant))[1:])] not in trained_docs
    assert dataset.instructions[next(iter(dataset.queries))] == "Find the passage"
    assert "36 accepted queries" in dataset.warnings[0]
    assert load_dataset(db, "corpus:docs").queries == dataset.queries


def test_the_corpus_set_remembers_what_runs_trained_on_though_examples_are_deleted(grounded):
    db, corpus_id, passages, ids = grounded
    split = split_heldout(load_examples(db), 0.25, seed=3)
    _run(db, split)
    before = corpus_dataset(db, "docs").queries
    trained = [e for e in split.train if e.document]
    db.execute("DELETE FROM example_rows WHERE id = ?", [trained[0].id])
    db.conn.commit()
    # a new query on the deleted example's passage: its document trained all the same
    new_id = insert_examples(db, [{"family": "short-long", "language": "English", "instruction": "Find the passage",
                                   "query": "a later query", "positive": trained[0].positive, "negative": None,
                                   "status": "accepted"}]).ids[0]
    passage = next(p for p in passages if p["text"] == trained[0].positive)
    db.execute("INSERT INTO example_passages (example_id, corpus_id, passage_id) VALUES (?, ?, ?)",
               [new_id, corpus_id, passage["id"]])
    db.conn.commit()
    assert corpus_dataset(db, "docs").queries == before


def test_a_passage_trained_as_a_hard_negative_keeps_its_queries_out_of_the_corpus_set(grounded):
    db, corpus_id, passages, ids = grounded
    examples = load_examples(db)
    first, other = examples[0], next(e for e in examples if e.document and e.document != examples[0].document)
    negative = next(p for p in passages if p["text"] == other.positive)
    db.execute("UPDATE example_passages SET negative_passage_id = ? WHERE example_id = ?", [negative["id"], first.id])
    db.conn.commit()
    curation.edit(db, first.id, {"negative": other.positive})
    trained = [e for e in load_examples(db) if e.id == first.id]
    assert trained[0].negative_document == other.document
    run_rows.create_run(db, None, "one", "minilm", {"heldout_ids": [], "train_ids": [first.id],
                                                    "trained_documents": trained_documents(trained)}, "/nowhere", {})
    left = corpus_dataset(db, "docs").queries
    assert str(first.id) not in left and str(other.id) not in left and len(left) == 48 - 8


def test_older_runs_are_read_from_their_links_and_an_empty_set_says_why(grounded):
    db, _, _, _ = grounded
    examples = load_examples(db)
    # a run from before runs recorded their training: everything accepted when it started, less its held-out ones
    first_document = [e.id for e in examples if e.document == examples[0].document]
    assert len(first_document) == 4
    run_rows.create_run(db, None, "old", "minilm", {"heldout_ids": first_document}, "/nowhere", {})
    assert list(corpus_dataset(db, "docs").queries) == [str(i) for i in first_document]
    run_rows.create_run(db, None, "all", "minilm", {"heldout_ids": [], "train_ids": [e.id for e in examples]},
                        "/nowhere", {})
    with pytest.raises(StudioError, match="belong to documents a run trained on"):
        corpus_dataset(db, "docs")
    with pytest.raises(StudioError, match="no corpus named 'nope'"):
        corpus_dataset(db, "nope")


def test_compare_lists_the_corpus_set_and_names_a_grounded_runs_heldout_set(grounded):
    db, _, _, _ = grounded
    split = split_heldout(load_examples(db), 0.25, seed=3)
    run_id = _run(db, split)
    listed = dict((value, label) for label, value in choices.dataset_choices(db))
    assert "corpus:docs" in listed and "(12 queries, 36 passages)" in listed["corpus:docs"]
    assert listed[f"heldout:run-{run_id}"].startswith("held-out queries of corpus docs · run")


def test_eval_on_a_corpus_from_the_command_line_and_the_compare_cache(grounded, db_path, tmp_path, capsys):
    db, _, _, _ = grounded
    model = build_tiny_encoder(tmp_path / "tiny")
    assert main(["eval", "--model", str(model), "--corpus", "docs", "--json", "--db", str(db_path)]) == 0
    result = json.loads(capsys.readouterr().out.strip())
    assert 0 <= result["ndcg_at_10"] <= 1
    stored = evaluation_rows.evaluations_of(open_db(db_path), str(model), "corpus:docs", "heldout")
    assert len(stored) == 1 and stored[0]["details"]["n_queries"] == 48
    settings = compare.side_settings(compare.SideRequest(str(model)), "corpus:docs", "test")
    assert compare.find_evaluation(db, settings, load_dataset(db, "corpus:docs")) is not None
    # a run trained on some documents since: the query set changed, so the stored figures no longer stand
    _run(db, split_heldout(load_examples(db), 0.25, seed=3))
    assert compare.find_evaluation(db, settings, load_dataset(db, "corpus:docs")) is None
    assert main(["eval", "--model", str(model), "--corpus", "nope", "--db", str(db_path)]) != 0
    assert "no corpus named 'nope'" in capsys.readouterr().err


def test_a_run_on_grounded_examples_scores_a_sample_while_training_and_the_whole_corpus_at_the_end(
        grounded, db_path, tmp_path):
    from studio.training.config import TrainConfig
    from studio.training.trainer import train

    db, _, passages, _ = grounded
    base = build_tiny_encoder(tmp_path / "base")
    summary = train(TrainConfig(base_model=str(base), out_dir=str(tmp_path / "run"), batch_size=8, max_steps=2,
                                seed=3, heldout_share=0.25, heldout_passages=4), db_path)
    config = json.loads(db.execute("SELECT config FROM runs WHERE id = ?", [summary["run_id"]]).fetchone()[0])
    assert "of 12 documents" in config["split"]
    held = [e for e in load_examples(db) if e.id in set(config["heldout_ids"]) and e.document]
    assert len(held) == 12
    stored = evaluation_rows.list_evaluations(db, run_id=summary["run_id"])
    assert stored and all(row["details"]["n_docs"] >= len(passages) for row in stored)
    assert all(row["details"]["n_queries"] == len(config["heldout_ids"]) for row in stored)
    # while training, the held-out queries searched their positives, 4 other passages and the free texts
    sample = heldout_dataset(db, summary["run_id"], corpus_passages_sample=4)
    assert len([d for d in sample.doc_ids if d.startswith("p")]) == len({e.positive for e in held}) + 4


def test_undoing_a_delete_brings_back_the_examples_link_to_its_passage(grounded):
    db, corpus_id, passages, ids = grounded
    before = {e.id: e.document for e in load_examples(db)}
    db.execute("UPDATE example_passages SET negative_passage_id = ?, positive_score = 0.8 WHERE example_id = ?",
               [passages[-1]["id"], ids[0]])
    db.conn.commit()
    curation.delete(db, curation.ExampleFilter(ids=(ids[0], ids[1])))
    assert db.execute("SELECT COUNT(*) FROM example_passages WHERE example_id IN (?, ?)", ids[:2]).fetchone()[0] == 0
    curation.undo_last(db)
    assert {e.id: e.document for e in load_examples(db)} == before
    row = db.execute("SELECT negative_passage_id, positive_score FROM example_passages WHERE example_id = ?",
                     [ids[0]]).fetchone()
    assert tuple(row) == (passages[-1]["id"], 0.8)
