"""A training run's held-out examples as a retrieval dataset, evaluated during and after training.

Each held-out example is a query (with its task instruction); a query's own positive is its one
relevant document. The corpus is every distinct positive and negative of the run's examples, held
out and trained on alike (`train_ids` in the run's config), so that a held-out query searches as
many documents as a user's would and Recall@100 means something. The split itself (by task, with no
held-out positive in training) is made by studio/training/split.py.
"""

import json

from studio.errors import StudioError
from studio.evaluation.beir import RetrievalDataset

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


def heldout_dataset(db, run_id: int) -> RetrievalDataset:
    config = run_row(db, run_id)["config"]
    ids = [int(i) for i in config.get("heldout_ids") or []]
    if not ids:
        raise StudioError(f"training run {run_id} kept no held-out examples: train with a held-out share to "
                          "evaluate on it")
    train_ids = [int(i) for i in config.get("train_ids") or []]
    examples = _examples(db, ids)
    trained = _examples(db, train_ids)
    doc_id_of: dict[str, str] = {}
    doc_ids, doc_texts = [], []

    def document(text: str) -> str:
        text = text.strip()  # as the split compares them
        if text not in doc_id_of:
            doc_id_of[text] = f"d{len(doc_ids)}"
            doc_ids.append(doc_id_of[text])
            doc_texts.append(text)
        return doc_id_of[text]

    queries, qrels, instructions = {}, {}, {}
    for example_id in ids:
        example = examples.get(example_id)
        if example is None:
            continue  # deleted since the run started
        query_id = str(example_id)
        queries[query_id] = example["query"]
        qrels[query_id] = {document(example["positive"]): 1}
        if example["negative"]:
            document(example["negative"])
        if example["instruction"]:
            instructions[query_id] = example["instruction"]
    for example_id in train_ids:
        example = trained.get(example_id)
        if example is not None:
            document(example["positive"])
            if example["negative"]:
                document(example["negative"])
    if not queries:
        raise StudioError(f"the held-out examples of training run {run_id} are no longer in the database")
    warnings = []
    if len(queries) < len(ids):
        warnings.append(f"{len(ids) - len(queries)} held-out examples were deleted and are skipped")
    return RetrievalDataset(name=heldout_dataset_name(run_id), split=HELDOUT_SPLIT, doc_ids=doc_ids,
                            doc_texts=doc_texts, queries=queries, qrels=qrels, instructions=instructions,
                            source=heldout_dataset_name(run_id), warnings=warnings)
