"""Hard negatives from a corpus, positive-aware (`mine --corpus NAME`).

For each example whose positive is a passage of the corpus and that has no negative yet, the
query is scored against every passage with an embedding model (default minilm, the base model).
Passages of the positive's own document never count (a neighbouring chunk of the same text is not
a negative), nor do texts equal to the query. From the rest, ranked best first, the rank window
(e.g. 10–50) gives the candidates, and a candidate scoring above max_ratio × the positive's score
is left out: it is as close to the query as the positive, so likely another right answer
(NV-Retriever's TopK-PercPos; 0.95 by default). One of the remaining candidates is picked at
random (seeded by the example's id) and becomes the negative, through the same undoable edit as
studio.curation.mining; the margin (positive's score − negative's score) is stored in the
example's q_margin, which Curate shows, and both scores and the negative's passage in
example_passages.
"""

import random
from dataclasses import asdict, dataclass

from storage import curation
from storage.db import transaction
from studio.corpus.index import open_for_job
from studio.curation.quality import encode_queries_by_instruction
from studio.embedding.precision import check_precision
from studio.errors import StudioError

CHUNK = 256   # queries scored and written per step (progress and cancel granularity)


@dataclass
class CorpusMiningSettings:
    corpus: str
    model: str = "minilm"
    rank_from: int = 10     # 1-based, inclusive
    rank_to: int = 50       # inclusive
    max_ratio: float = 0.95
    status: str | None = None   # which examples get negatives; None: any not rejected
    seed: int = 0
    batch_size: int = 64
    precision: str = "auto"     # the passages' encoding: auto (bf16 where native), bf16 or fp32

    def as_args(self) -> dict:
        return asdict(self)

    def check(self) -> None:
        if self.rank_from < 1 or self.rank_to < self.rank_from:
            raise StudioError("the rank window needs 1 <= from <= to, e.g. --window 10:50")
        if not 0 < self.max_ratio <= 1:
            raise StudioError("--max-ratio must be above 0 and at most 1, e.g. 0.95")
        check_precision(self.precision)


def parse_window(text: str) -> tuple[int, int]:
    """"10:50" → (10, 50)."""
    try:
        low, high = (int(part) for part in text.split(":"))
    except ValueError:
        raise StudioError(f"the window '{text}' is not FROM:TO ranks, e.g. 10:50") from None
    if low < 1 or high < low:
        raise StudioError(f"the window '{text}' needs 1 <= FROM <= TO, e.g. 10:50")
    return low, high


def choose_negative(order: list[int], scores: dict[int, float], positive_score: float, settings,
                    rng: random.Random) -> tuple[int | None, str]:
    """A passage row from the window of `order` (already without the positive's document) whose score is
    at most max_ratio × the positive's; (None, why) when there is none."""
    window = order[settings.rank_from - 1:settings.rank_to]
    if not window:
        return None, "too_few"
    allowed = [row for row in window if scores[row] <= settings.max_ratio * positive_score]
    if not allowed:
        return None, "too_close"
    return rng.choice(allowed), "mined"


def run_corpus_mining_job(job, settings: CorpusMiningSettings) -> dict:
    from studio.evaluation.search import top_k

    settings.check()
    db = job.db
    stats = {"targets": 0, "mined": 0, "too_close": 0, "too_few": 0, "duplicates": 0, "passages": 0}
    with job.failing("the mining job", stats):
        corpus, model, index, targets = open_for_job(job, settings, "e.negative IS NULL AND e.status != 'rejected'")
        stats["passages"] = len(index.texts)
        stats["targets"] = len(targets)
        if not targets:
            job.finish(stats=stats, message=f"No example of corpus '{corpus['name']}' lacks a negative.")
            return stats
        doc_rows = index.rows_of_document()
        widest = max(len(rows) for rows in doc_rows.values())
        depth = min(len(index.texts), settings.rank_to + widest + 1)
        action_id = curation.begin_action(
            db, f"mining job {job.job_id}", "mine",
            f"mine negatives from corpus {corpus['name']} (ranks {settings.rank_from}–{settings.rank_to}, "
            f"≤ {settings.max_ratio:g} × positive, {settings.model})")
        for start in range(0, len(targets), CHUNK):
            if job.cancel_requested():
                curation.finish_action(db, action_id)
                job.cancelled(stats=stats)
                return stats
            chunk = targets[start:start + CHUNK]
            queries = encode_queries_by_instruction(model, chunk, settings.batch_size)
            best, best_scores = top_k(queries, index.vectors, depth)
            links = []
            with transaction(db):
                for example, vector, rows, row_scores in zip(chunk, queries, best, best_scores):
                    own = index.doc_ids[example["passage_row"]]
                    positive_score = float(vector @ index.vectors[example["passage_row"]])
                    order = [row for row in rows.tolist()
                             if index.doc_ids[row] != own and index.texts[row] != example["query"]]
                    scores = dict(zip(rows.tolist(), row_scores.tolist()))
                    rng = random.Random(settings.seed * 1_000_003 + example["id"])
                    row, outcome = choose_negative(order, scores, positive_score, settings, rng)
                    if row is None:
                        stats[outcome] += 1
                        continue
                    try:
                        curation.edit(db, example["id"], {"negative": index.texts[row], "negative_mined": 1},
                                      who=f"mining job {job.job_id}", kind="mine", action_id=action_id)
                    except StudioError:
                        stats["duplicates"] += 1   # it would make the example identical to another
                        continue
                    margin = positive_score - scores[row]
                    db.execute("UPDATE example_rows SET q_margin = ?, q_margin_flag = ? WHERE id = ?",
                               [margin, int(margin <= 0), example["id"]])
                    links.append([index.passage_ids[row], positive_score, scores[row], example["id"]])
                    stats["mined"] += 1
                db.conn.executemany("UPDATE example_passages SET negative_passage_id = ?, positive_score = ?,"
                                    " negative_score = ? WHERE example_id = ?", links)
            job.progress(min(start + CHUNK, len(targets)), len(targets), "mining", stats=stats)
        curation.finish_action(db, action_id)
        job.finish(stats=stats, message=summary(stats))
        return stats


def summary(stats: dict) -> str:
    return (f"mined {stats['mined']} negative(s) for {stats['targets']} example(s) over {stats['passages']} "
            f"passage(s); {stats['too_close']} had every candidate above the ratio, {stats['too_few']} too few "
            f"candidates, {stats['duplicates']} would duplicate another example")
