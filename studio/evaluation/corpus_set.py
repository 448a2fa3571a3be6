"""A user's corpus as a retrieval dataset: its passages are the documents, and the queries written
for its passages (accepted examples grounded in it) are the queries, each relevant to its own passage.

Two datasets stand on it:
- a run's held-out queries, searched among every passage of their corpus (studio/evaluation/heldout.py);
- `corpus:NAME`: the corpus's queries held out of every run, i.e. whose document no run trained on
  (as a positive or a hard negative), so any model may be measured on them.

Document ids are `p<passage id>`. When the documents are exactly a corpus's passages in stored order,
the dataset's cache name is the one mining and the checks use for that corpus's vectors, so a model
encodes the corpus once for all three.
"""

import hashlib
import json
import random

from storage import corpora
from storage import runs as run_rows
from studio.errors import StudioError
from studio.evaluation.beir import RetrievalDataset

CORPUS_PREFIX = "corpus:"


def vectors_name(corpus: dict) -> str:
    """Names a corpus's cached vectors: a corpus removed and added again under the same name is new."""
    key = f"{corpus['id']}|{corpus['name']}|{corpus['created_at']}|{corpus['passages']}"
    return "corpus-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def corpus_of(spec: str) -> str | None:
    """NAME for a dataset named `corpus:NAME`; None for any other."""
    if not spec.startswith(CORPUS_PREFIX):
        return None
    name = spec.removeprefix(CORPUS_PREFIX).strip()
    if not name:
        raise StudioError("write corpus:NAME with NAME a corpus listed by `corpus list`")
    return name


class Documents:
    """The documents of a dataset being built: passages first (ids p<id>), then any other text (d<n>),
    each distinct text (stripped) once."""

    def __init__(self):
        self.ids: list[str] = []
        self.texts: list[str] = []
        self._id_of: dict[str, str] = {}
        self.extra = 0            # documents that are not passages

    def add_passages(self, rows) -> None:
        for row in rows:
            text = row["text"].strip()
            if text not in self._id_of:
                self._id_of[text] = f"p{row['id']}"
                self.ids.append(self._id_of[text])
                self.texts.append(text)

    def add(self, text: str) -> str:
        text = text.strip()
        if text not in self._id_of:
            self._id_of[text] = f"d{self.extra}"
            self.extra += 1
            self.ids.append(self._id_of[text])
            self.texts.append(text)
        return self._id_of[text]


def links(db, example_ids) -> dict[int, dict]:
    """example id → {corpus_id, passage_id, doc_id, negative_corpus_id, negative_doc_id} for examples whose
    positive is a stored passage (the negative's document when it is one too)."""
    return {row["example_id"]: dict(row) for row in db.query(
        "SELECT ep.example_id, ep.corpus_id, ep.passage_id, p.doc_id, n.corpus_id AS negative_corpus_id,"
        " n.doc_id AS negative_doc_id FROM example_passages ep JOIN passages p ON p.id = ep.passage_id"
        " LEFT JOIN passages n ON n.id = ep.negative_passage_id"
        " WHERE ep.example_id IN (SELECT value FROM json_each(?))", [json.dumps(list(example_ids))])}


def corpus_passages(db, corpus_ids, sample: int | None = None, keep=(), seed: str = "") -> list[dict]:
    """The passages of these corpora in stored order: all of them, or (with `sample`) the passages in
    `keep` plus a seeded sample of `sample` others."""
    rows = [row for corpus_id in sorted(corpus_ids) for row in corpora.passages_of(db, corpus_id, "id, text")]
    if sample is None or sample >= len(rows):
        return rows
    keep = set(keep)
    others = [row["id"] for row in rows if row["id"] not in keep]
    chosen = keep | set(random.Random(seed).sample(others, min(sample, len(others))))
    return [row for row in rows if row["id"] in chosen]


def documents_trained_on(db) -> set[tuple[int, str]]:
    """(corpus id, document id) of every passage any run trained on, as a positive or a hard negative.

    A run records them as it splits (`trained_documents`), so deleting its examples later forgets
    nothing; older runs are read from their training examples' links."""
    documents: set[tuple[int, str]] = set()
    older: set[int] = set()
    for row in db.query("SELECT id, config, created_at FROM runs ORDER BY id"):
        run = {**dict(row), "config": json.loads(row["config"] or "{}")}
        recorded = run["config"].get("trained_documents")
        if recorded is not None:
            for document in recorded:
                corpus_id, doc_id = document.split(":", 1)
                documents.add((int(corpus_id), doc_id))
        else:
            older |= run_rows.trained_example_ids(db, run)
    for link in links(db, older).values():
        documents.add((link["corpus_id"], link["doc_id"]))
        if link["negative_doc_id"] is not None:
            documents.add((link["negative_corpus_id"], link["negative_doc_id"]))
    return documents


def _accepted_queries(db, corpus_id: int) -> list[dict]:
    """The accepted examples written from a passage of the corpus: id, instruction, query, passage_id, doc_id."""
    return list(db.query(
        "SELECT e.id, e.instruction, e.query, ep.passage_id, p.doc_id FROM examples e"
        " JOIN example_passages ep ON ep.example_id = e.id JOIN passages p ON p.id = ep.passage_id"
        " WHERE e.status = 'accepted' AND ep.corpus_id = ? ORDER BY e.id", [corpus_id]))


def corpus_dataset(db, name: str) -> RetrievalDataset:
    """`corpus:NAME`: the accepted queries of corpus NAME whose document no run trained on, searched
    among all its passages."""
    corpus = corpora.corpus_by_name(db, name)
    if corpus is None:
        known = ", ".join(row["name"] for row in corpora.list_corpora(db)) or "none yet"
        raise StudioError(f"there is no corpus named '{name}' (corpora: {known}); add one with `corpus add PATH`")
    trained = documents_trained_on(db)
    rows = _accepted_queries(db, corpus["id"])
    held = [row for row in rows if (corpus["id"], row["doc_id"]) not in trained]
    if not held:
        why = (f"all {len(rows)} of its accepted queries belong to documents a run trained on" if rows else
               "it has no accepted queries: generate queries from it in the Generate tab and accept some")
        raise StudioError(f"corpus '{name}' has no queries held out of every run: {why}")
    documents = Documents()
    documents.add_passages(corpus_passages(db, [corpus["id"]]))
    queries = {str(row["id"]): row["query"] for row in held}
    qrels = {str(row["id"]): {f"p{row['passage_id']}": 1} for row in held}
    instructions = {str(row["id"]): row["instruction"] for row in held if row["instruction"]}
    warnings = []
    if len(held) < len(rows):
        warnings.append(f"{len(rows) - len(held)} accepted queries of this corpus are left out: a run trained on "
                        "their documents")
    spec = CORPUS_PREFIX + name
    return RetrievalDataset(name=spec, split="heldout", doc_ids=documents.ids, doc_texts=documents.texts,
                            queries=queries, qrels=qrels, instructions=instructions, source=spec,
                            warnings=warnings, cache_name=vectors_name(corpus))


def describe_corpus_sets(db) -> list[tuple[str, str]]:
    """(label, spec) of each corpus with queries held out of every run, for the Compare tab's list."""
    trained = documents_trained_on(db)
    choices = []
    for corpus in corpora.list_corpora(db):
        count = sum((corpus["id"], row["doc_id"]) not in trained for row in _accepted_queries(db, corpus["id"]))
        if count:
            choices.append((f"queries of corpus {corpus['name']} held out of every run ({count} queries, "
                            f"{corpus['passages']} passages)", CORPUS_PREFIX + corpus["name"]))
    return choices
