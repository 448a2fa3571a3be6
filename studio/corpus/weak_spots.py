"""Where model B is weak, as passages to write more queries for (`generate --like-weak A:B`, and
Compare's "Generate more like these").

Two stored evaluations on the same set of a corpus's held-out queries (`corpus:NAME`, or
`heldout:run-N` of a run trained on grounded examples) give each query's nDCG@10 under A and B.
The n queries where B falls furthest below A are taken, and only queries where B loses. A query's
id there is an example's id; its positive is a passage of the corpus (the link grounded generation
stored in example_passages, or the passage with the positive's exact text). The k passages nearest
to each of those passages become the passages of a grounded generation job, so the next run gets
training queries about what the last one got wrong.

Nearness is cosine between the passages' vectors under model B's own encoder: its mistakes live in
its geometry, and its neighbourhoods are the ones the next run must pull apart. When B's files can
no longer be loaded (a run folder removed), model A's vectors are used and the description says so.
The corpus is encoded once per model and cached (studio.corpus.index), so only the first time is slow.

No passage of a held-out document is ever chosen: a document is held out when a query of this set
(all of them, not only the weak ones) or of B's own run's held-out set comes from one of its
passages. The weak passages themselves are in such documents, so they are never chosen either.
"""

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from storage import corpora
from storage import evaluations as evaluation_rows
from studio.corpus.index import CorpusIndex, corpus_named, is_cached, load_index
from studio.errors import StudioError
from studio.evaluation.corpus_set import CORPUS_PREFIX
from studio.evaluation.corpus_set import links as stored_links

METRIC = "ndcg_at_10"
HELDOUT_PREFIX = "heldout:"
DEFAULT_QUERIES = 10
DEFAULT_NEIGHBOURS = 5
MAX_QUERIES, MAX_NEIGHBOURS = 500, 50   # at most 25,000 passages: one job's argument list stays small
NOT_A_CORPUS = ("needs a corpus's held-out queries: evaluate both models on `corpus:NAME`, or on the held-out set "
                "(`heldout:run-N`) of a run trained on queries generated from a corpus")
NOT_OFFERED = ("Offered on a corpus's held-out queries only: compare on `corpus:NAME`, or on the held-out set of a run "
               "trained on queries generated from a corpus. The queries of this dataset were not written from a "
               "corpus's passages.")


@dataclass(frozen=True)
class WeakQuery:
    query_id: str
    score_a: float
    score_b: float

    @property
    def loss(self) -> float:
        return self.score_a - self.score_b


@dataclass
class WeakSpots:
    corpus: dict
    losing: int                    # queries of the set where B scores below A
    total: int                     # queries of the set
    queries: list[WeakQuery]       # the weak queries used (linked to a passage), worst first
    weak_passage_ids: list[int]    # their positives' passages
    passage_ids: list[int]         # the neighbours: the passages to write queries for
    model: str                     # whose vectors found the neighbours
    side: str                      # "B", or "A" when B's model could not be loaded
    instruction: str | None        # the task most of the weak queries were written for
    held_out_documents: int
    encoded_seconds: float | None  # None: the corpus's vectors came from the cache
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        mean_a = sum(q.score_a for q in self.queries) / len(self.queries)
        mean_b = sum(q.score_b for q in self.queries) / len(self.queries)
        name = Path(self.model).name if "/" in self.model else self.model
        lines = [f"B scores below A on {self.losing} of {self.total} queries; the {len(self.queries)} where it loses "
                 f"most (nDCG@10 {mean_a:.3f} → {mean_b:.3f} on average) come from {len(self.weak_passage_ids)} "
                 f"passage(s) of corpus '{self.corpus['name']}'.",
                 f"Their {len(self.passage_ids)} nearest passages by {self.side}'s vectors ({name}), outside the "
                 f"{self.held_out_documents} held-out document(s), are the ones to write queries for."]
        if self.encoded_seconds is None:
            lines.append(f"The corpus's vectors under {self.side}'s model came from the cache.")
        else:
            lines.append(f"The corpus's {self.corpus['passages']} passages were encoded with {self.side}'s model "
                         f"in {self.encoded_seconds:.1f} s (cached for next time).")
        return " ".join(lines + self.notes)


def parse_pair(text: str) -> tuple[int, int]:
    """"3:4" → (3, 4): the evaluation ids of A and B."""
    try:
        a_id, b_id = (int(part) for part in (text or "").split(":"))
    except ValueError:
        raise StudioError(f"--like-weak takes two evaluation ids as A:B, e.g. 3:4 (not '{text}'); the Compare tab "
                          "lists stored evaluations with their ids") from None
    return a_id, b_id


def losses(a: dict, b: dict) -> list[WeakQuery]:
    """Every query where B's nDCG@10 is below A's, the largest loss first."""
    found = []
    for query_id, scores_a in (a["per_query"] or {}).items():
        scores_b = (b["per_query"] or {}).get(query_id)
        if scores_b is None:
            continue
        score_a, score_b = float(scores_a.get(METRIC, 0.0)), float(scores_b.get(METRIC, 0.0))
        if score_b < score_a:
            found.append(WeakQuery(query_id, score_a, score_b))
    found.sort(key=lambda query: (-query.loss, query.query_id))
    return found


def pair(db, a_id: int, b_id: int) -> tuple[dict, dict]:
    """The two stored evaluations, checked to be on the same set of a corpus's queries."""
    found = []
    for evaluation_id in (a_id, b_id):
        row = evaluation_rows.get_evaluation(db, evaluation_id)
        if row is None:
            raise StudioError(f"there is no evaluation {evaluation_id}: see the stored evaluations in the Compare tab")
        found.append(row)
    a, b = found
    if (a["dataset"], a["split"]) != (b["dataset"], b["split"]):
        raise StudioError(f"evaluations {a_id} and {b_id} are on different datasets ({a['dataset']} and "
                          f"{b['dataset']}): choose two on the same one")
    if not a["dataset"].startswith((CORPUS_PREFIX, HELDOUT_PREFIX)):
        raise StudioError(f"evaluation {a_id} is on {a['dataset']}; generating more like its weak queries "
                          + NOT_A_CORPUS)
    if not a["per_query"] or not b["per_query"]:
        raise StudioError(f"evaluations {a_id} and {b_id} keep no per-query scores: evaluate both models again")
    return a, b


def _json(values) -> str:
    return json.dumps([int(value) for value in values])


def _example_ids(evaluation: dict) -> list[int]:
    try:
        return [int(query_id) for query_id in evaluation["per_query"]]
    except ValueError:
        raise StudioError(f"the queries of {evaluation['dataset']} are not examples of the studio; generating more "
                          "like them " + NOT_A_CORPUS) from None


def links(db, example_ids) -> dict[int, tuple[int, int]]:
    """example id → (corpus id, passage id) of its positive: the stored link, else a passage with its exact text."""
    found = {example_id: (link["corpus_id"], link["passage_id"])
             for example_id, link in stored_links(db, example_ids).items()}
    missing = [example_id for example_id in example_ids if example_id not in found]
    corpus_ids = [row["id"] for row in corpora.list_corpora(db)]
    if missing and corpus_ids:
        for row in db.query("SELECT id, positive FROM examples WHERE id IN (SELECT value FROM json_each(?))",
                            [_json(missing)]):
            for corpus_id in corpus_ids:
                passage = corpora.find_by_text(db, corpus_id, row["positive"] or "")
                if passage is not None:
                    found[row["id"]] = (corpus_id, passage["id"])
                    break
    return found


def corpus_of(db, evaluation: dict) -> tuple[dict, dict[int, tuple[int, int]]]:
    """The corpus a set's queries come from (its name for `corpus:NAME`; else the corpus most of their
    positives are passages of), and each query's link."""
    example_ids = _example_ids(evaluation)
    linked = links(db, example_ids)
    label = evaluation["dataset"]
    if label.startswith(CORPUS_PREFIX):
        return corpus_named(db, label.removeprefix(CORPUS_PREFIX)), linked
    counts = Counter(corpus_id for corpus_id, _ in linked.values())
    if not counts:
        raise StudioError(f"no query of {label} was generated from a corpus's passage; generating more like them "
                          + NOT_A_CORPUS)
    corpus_id = counts.most_common(1)[0][0]
    return next(row for row in corpora.list_corpora(db) if row["id"] == corpus_id), linked


def _load_model(a: dict, b: dict):
    """(side, model name, loaded model, notes): B's model, or A's when B's cannot be loaded."""
    from studio.evaluation.runner import loaded_model

    notes = []
    for side, evaluation in (("B", b), ("A", a)):
        details = evaluation["details"] or {}
        try:
            return side, evaluation["model"], loaded_model(evaluation["model"], details.get("pooling"),
                                                           details.get("max_length")), notes
        except Exception as error:  # a folder removed or unreadable weights: any failure to load means "try A"
            notes.append(f"{side}'s model {evaluation['model']} could not be loaded ({type(error).__name__}: "
                         f"{error}){', so A’s vectors were used instead' if side == 'B' else ''}.")
    raise StudioError("neither model of the comparison can be loaded: " + " ".join(notes))


def _held_out_run_ids(db, model: str) -> list[int]:
    """The held-out examples of the run that made `model` (none for a base model)."""
    from studio.evaluation.choices import run_of_model

    run = run_of_model(db, model)
    return [int(i) for i in (run or {}).get("config", {}).get("heldout_ids") or []]


def neighbours(index: CorpusIndex, rows: list[int], k: int, excluded: np.ndarray) -> list[int]:
    """For each passage row in turn, the k rows nearest to it (cosine) that are neither excluded, nor
    one of `rows`, nor taken already for an earlier row."""
    allowed = ~excluded
    allowed[rows] = False
    taken: list[int] = []
    scores = np.asarray(index.vectors[rows]) @ np.asarray(index.vectors).T
    for row_scores in scores:
        candidates = np.flatnonzero(allowed)
        picked = candidates[np.argsort(-row_scores[candidates], kind="stable")[:k]]
        allowed[picked] = False
        taken.extend(int(row) for row in picked)
    return taken


def find(db, a_id: int, b_id: int, n: int = DEFAULT_QUERIES, k: int = DEFAULT_NEIGHBOURS,
         progress: Callable[[int, int], None] | None = None,
         should_stop: Callable[[], bool] | None = None) -> WeakSpots:
    """The passages near those of the n queries where B (evaluation `b_id`) loses most to A (`a_id`), k per
    query. `progress(done, total)` follows the corpus's encoding (only the first time for a model)."""
    if not (1 <= n <= MAX_QUERIES and 1 <= k <= MAX_NEIGHBOURS):
        raise StudioError(f"weak queries (--weak-queries) must be between 1 and {MAX_QUERIES}, neighbours "
                          f"(--neighbours) between 1 and {MAX_NEIGHBOURS}")
    a, b = pair(db, a_id, b_id)
    corpus, linked = corpus_of(db, a)
    losing = losses(a, b)
    if not losing:
        raise StudioError(f"B scores at least as well as A on every query of {a['dataset']} (nDCG@10): there is no "
                          "weak spot to generate more like")
    ours = [query for query in losing if linked.get(int(query.query_id), (None,))[0] == corpus["id"]]
    weak = ours[:n]
    if not weak:
        raise StudioError(f"none of the {len(losing)} queries B loses on comes from a passage of corpus "
                          f"'{corpus['name']}'")
    notes = []
    skipped = sum(1 for query in losing[:n] if query not in ours)
    if skipped:
        notes.append(f"{skipped} of the worst queries are not linked to a passage of the corpus and were passed over.")
    side, model_name, model, load_notes = _load_model(a, b)
    notes += load_notes
    cached = is_cached(corpus, model, model_name)
    started = time.perf_counter()
    index = load_index(db, corpus, model, model_name, progress=progress, should_stop=should_stop)
    encoded = None if cached else time.perf_counter() - started

    held_out_examples = set(_example_ids(a)) | set(_held_out_run_ids(db, b["model"]))
    held_links = links(db, held_out_examples - set(linked)) | linked
    held_passages = [passage for example, (corpus_id, passage) in held_links.items()
                     if corpus_id == corpus["id"] and example in held_out_examples]
    held_documents = {row["doc_id"] for row in corpora.get_passages(db, held_passages).values()}
    excluded = np.array([doc_id in held_documents for doc_id in index.doc_ids], dtype=bool)

    weak_passage_ids = list(dict.fromkeys(linked[int(query.query_id)][1] for query in weak))
    rows = [index.row_of[passage_id] for passage_id in weak_passage_ids if passage_id in index.row_of]
    chosen = [index.passage_ids[row] for row in neighbours(index, rows, k, excluded)]
    if not chosen:
        raise StudioError(f"every passage of corpus '{corpus['name']}' near the weak queries' passages is in a "
                          "held-out document: there is nothing to write queries for that would not leak into the "
                          "held-out set")
    instructions = Counter(row[0] for row in db.execute(
        "SELECT instruction FROM examples WHERE id IN (SELECT value FROM json_each(?)) AND instruction IS NOT NULL"
        " AND instruction != ''", [_json(int(query.query_id) for query in weak)]))
    return WeakSpots(corpus, len(losing), len(a["per_query"]), weak, weak_passage_ids, chosen, model_name, side,
                     instructions.most_common(1)[0][0] if instructions else None, len(held_documents), encoded, notes)


@dataclass(frozen=True)
class Offer:
    """Whether Compare offers "Generate more like these" for a comparison, and the sentence beside it."""
    available: bool
    note: str


def offer(db, a_id: int, b_id: int) -> Offer:
    """Cheap (no model is loaded): whether the pair's set is a corpus's queries, and how many B loses."""
    try:
        a, b = pair(db, a_id, b_id)
        corpus, _ = corpus_of(db, a)
    except StudioError:
        return Offer(False, NOT_OFFERED)
    losing = len(losses(a, b))
    if not losing:
        return Offer(False, "B scores at least as well as A on every query of this set: there is no weak spot to "
                            "generate more like.")
    return Offer(True, f"B loses to A on {losing} of {len(a['per_query'])} queries of corpus '{corpus['name']}'.")


__all__ = ["DEFAULT_NEIGHBOURS", "DEFAULT_QUERIES", "Offer", "WeakQuery", "WeakSpots", "corpus_of", "find", "links",
           "losses", "neighbours", "offer", "pair", "parse_pair"]
