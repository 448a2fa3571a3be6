"""A corpus as mining and the checks search it: its passages' vectors (cached on disk per model) and
the examples that came from it.

Passages are embedded as they are stored, without their title: that is the text an example
carries as its positive, so a positive's own score and its rivals' are measured alike. An example
belongs to a corpus when its positive is one of the corpus's passages, verbatim: grounded
generation records the link as it writes; imported examples are linked here by their text.
"""

import json
from dataclasses import dataclass
from typing import Callable

import numpy as np

from storage import corpora
from storage.db import transaction
from studio.errors import StudioError


@dataclass
class CorpusIndex:
    corpus: dict
    passage_ids: list[int]
    doc_ids: list[str]
    texts: list[str]
    vectors: np.ndarray             # (passages × dimension), L2-normalised
    row_of: dict[int, int]          # passage id → row in the arrays above

    def rows_of_document(self) -> dict[str, list[int]]:
        rows: dict[str, list[int]] = {}
        for row, doc_id in enumerate(self.doc_ids):
            rows.setdefault(doc_id, []).append(row)
        return rows


def corpus_named(db, name: str) -> dict:
    found = corpora.corpus_by_name(db, name)
    if found is None:
        known = ", ".join(row["name"] for row in corpora.list_corpora(db)) or "none yet"
        raise StudioError(f"there is no corpus named '{name}' (corpora: {known}); add one with `corpus add PATH`")
    return found


def fingerprint(corpus: dict, precision: str = "fp32") -> str:
    """Names the corpus's cached vectors (in fp32, the name evaluation on the corpus uses too); vectors
    encoded in bf16 are not those encoded in fp32."""
    from studio.evaluation.corpus_set import vectors_name

    name = vectors_name(corpus)
    return name if precision == "fp32" else f"{name}-{precision}"


def _cache_key(model, model_name: str) -> str:
    from studio.evaluation.embedding_cache import model_key

    return model_key(model_name, model.pooling, model.max_length)


def is_cached(corpus: dict, model, model_name: str, precision: str = "fp32") -> bool:
    """Whether the corpus's vectors under this model are on disk already (loading them is then quick)."""
    from studio.evaluation.embedding_cache import cache_path

    return cache_path(_cache_key(model, model_name), fingerprint(corpus, precision)).exists()


def load_index(db, corpus: dict, model, model_name: str, progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None, batch_size: int = 64,
               precision: str = "fp32") -> CorpusIndex:
    """The corpus encoded by `model` in `precision` (bf16 or fp32; studio.embedding.precision chooses)."""
    from studio.evaluation.embedding_cache import document_embeddings

    rows = corpora.passages_of(db, corpus["id"], columns="id, doc_id, text")
    if not rows:
        raise StudioError(f"corpus '{corpus['name']}' has no passages")
    texts = [row["text"] for row in rows]
    vectors = document_embeddings(model, _cache_key(model, model_name), fingerprint(corpus, precision), texts,
                                  progress=progress, should_stop=should_stop, batch_size=batch_size,
                                  precision=precision)
    ids = [row["id"] for row in rows]
    return CorpusIndex(corpus, ids, [row["doc_id"] for row in rows], texts, np.asarray(vectors),
                       {passage_id: row for row, passage_id in enumerate(ids)})


def link_examples(db, index: CorpusIndex, where: str = "1", params=()) -> list[dict]:
    """Examples (matching `where` on the examples view, alias e) whose positive is a passage of the
    corpus, each with `passage_row` (its row in the index); links found by text are stored."""
    corpus_id = index.corpus["id"]
    linked = {row[0]: row[1] for row in db.execute(
        "SELECT example_id, passage_id FROM example_passages WHERE corpus_id = ? AND passage_id IS NOT NULL",
        [corpus_id])}
    by_key: dict[int, list[int]] = {}
    for row, text in enumerate(index.texts):
        by_key.setdefault(corpora.text_key(text), []).append(row)
    found, new_links = [], []
    for example in db.query(
            f"SELECT e.id, e.family, e.language, e.status, e.instruction, e.query, e.positive, e.negative,"
            f" e.negative_mined FROM examples e WHERE {where} ORDER BY e.id", list(params)):
        passage_row = index.row_of.get(linked.get(example["id"]))
        if passage_row is None or index.texts[passage_row] != example["positive"]:
            passage_row = next((row for row in by_key.get(corpora.text_key(example["positive"]), ())
                                if index.texts[row] == example["positive"]), None)
            if passage_row is None:
                continue
            new_links.append([example["id"], corpus_id, index.passage_ids[passage_row]])
        found.append(dict(example, passage_row=passage_row))
    if new_links:
        with transaction(db):
            db.conn.executemany(
                "INSERT INTO example_passages (example_id, corpus_id, passage_id) VALUES (?, ?, ?)"
                " ON CONFLICT (example_id) DO UPDATE SET corpus_id = excluded.corpus_id,"
                " passage_id = excluded.passage_id, negative_passage_id = NULL, positive_score = NULL,"
                " negative_score = NULL", new_links)
    return found


def examples_in(ids) -> tuple[str, list]:
    """A `where` for link_examples: these example ids only."""
    return "e.id IN (SELECT value FROM json_each(?))", [json.dumps(list(ids))]


def open_for_job(job, settings, where: str) -> tuple[dict, object, CorpusIndex, list[dict]]:
    """What a corpus job (mining, checks) starts from: the corpus `settings.corpus`, the embedding model
    `settings.model`, the corpus encoded by it (in `settings.precision`, auto: bf16 where the hardware has
    it), and the examples matching `where` (and `settings.status`) linked to their passages."""
    from studio.embedding.precision import corpus_precision
    from studio.evaluation.runner import loaded_model

    corpus = corpus_named(job.db, settings.corpus)
    job.progress(0, None, f"loading model {settings.model}")
    model = loaded_model(settings.model)
    precision = corpus_precision(settings.precision, model.device.type)
    index = load_index(job.db, corpus, model, settings.model, batch_size=settings.batch_size, precision=precision,
                       progress=lambda done, total: job.progress(
                           0, None, f"encoding passages in {precision} {done}/{total}"))
    if settings.status:
        where, params = f"{where} AND e.status = ?", [settings.status]
    else:
        params = []
    return corpus, model, index, link_examples(job.db, index, where, params)
