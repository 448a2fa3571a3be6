"""A training run's held-out examples as a retrieval dataset, evaluated during and after training.

Each held-out example is a query (with its task instruction); a query's own positive is its one
relevant document. The documents are every distinct positive and negative of the run's examples, held
out and trained on alike (`train_ids` in the run's config), so that a held-out query searches as
many documents as a user's would and Recall@100 means something. When held-out examples are grounded
in a corpus, every passage of that corpus is a document too: a query is searched as it will be in
use. During training a seeded sample of the corpus stands in for it (`corpus_passages`), as scoring
the whole corpus every few steps would cost more than the training. The split itself (by document or
task, with no held-out positive in training) is made by studio/training/split.py.
"""

import json

from studio.errors import StudioError
from studio.evaluation.beir import RetrievalDataset
from studio.evaluation.corpus_set import Documents, corpus_passages, links, vectors_name

HELDOUT_SPLIT = "heldout"


def heldout_dataset_name(run_id: int) -> str:
    return f"heldout:run-{run_id}"


def run_row(db, run_id: int) -> dict:
    rows = list(db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
    if not rows:
        raise StudioError(f"training run {run_id} does not exist: pick a run listed in the Train tab")
    row = dict(rows[0])
    row["config"] = json.loads(row.get("config") or "{}")
    return row


def heldout_ids(db, run_id: int) -> list[int]:
    return [int(i) for i in run_row(db, run_id)["config"].get("heldout_ids") or []]


def _examples(db, ids: list[int]) -> dict[int, dict]:
    examples = {}
    for start in range(0, len(ids), 500):  # stay under SQLite's limit on bound parameters
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for row in db.query(f"SELECT id, instruction, query, positive, negative FROM examples WHERE id IN ({marks})",
                            chunk):
            examples[row["id"]] = row
    return examples


def heldout_dataset(db, run_id: int, corpus_passages_sample: int | None = None) -> RetrievalDataset:
    """The run's held-out set; with `corpus_passages_sample` N, its corpus passages are the held-out
    positives and N others drawn with the run's id as seed (None: every passage)."""
    config = run_row(db, run_id)["config"]
    ids = [int(i) for i in config.get("heldout_ids") or []]
    if not ids:
        raise StudioError(f"training run {run_id} kept no held-out examples: train with a held-out share to "
                          "evaluate on it")
    train_ids = [int(i) for i in config.get("train_ids") or []]
    examples = _examples(db, ids)
    trained = _examples(db, train_ids)
    grounded = links(db, examples)
    corpus_ids = {link["corpus_id"] for link in grounded.values()}
    documents = Documents()
    if corpus_ids:
        documents.add_passages(corpus_passages(db, corpus_ids, corpus_passages_sample,
                                               keep=[link["passage_id"] for link in grounded.values()],
                                               seed=f"heldout-passages-{run_id}"))
    passages = len(documents.ids)

    queries, qrels, instructions = {}, {}, {}
    for example_id in ids:
        example = examples.get(example_id)
        if example is None:
            continue  # deleted since the run started
        query_id = str(example_id)
        queries[query_id] = example["query"]
        qrels[query_id] = {documents.add(example["positive"]): 1}
        if example["negative"]:
            documents.add(example["negative"])
        if example["instruction"]:
            instructions[query_id] = example["instruction"]
    for example_id in train_ids:
        example = trained.get(example_id)
        if example is not None:
            documents.add(example["positive"])
            if example["negative"]:
                documents.add(example["negative"])
    if not queries:
        raise StudioError(f"the held-out examples of training run {run_id} are no longer in the database")
    warnings = []
    if len(queries) < len(ids):
        warnings.append(f"{len(ids) - len(queries)} held-out examples were deleted and are skipped")
    cache_name = ""
    if len(corpus_ids) == 1 and corpus_passages_sample is None and not documents.extra:
        corpus = dict(next(iter(db.query("SELECT * FROM corpora WHERE id = ?", [next(iter(corpus_ids))]))))
        cache_name = vectors_name(corpus) if corpus["passages"] == passages else ""
    return RetrievalDataset(name=heldout_dataset_name(run_id), split=HELDOUT_SPLIT, doc_ids=documents.ids,
                            doc_texts=documents.texts, queries=queries, qrels=qrels, instructions=instructions,
                            source=heldout_dataset_name(run_id), warnings=warnings, cache_name=cache_name)
