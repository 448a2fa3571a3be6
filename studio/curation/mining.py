"""Hard-negative mining for examples without a negative (short-short, long-long, or any).

Each such example's query is scored against a pool of documents (the positives of curated
examples of the same family) with an embedding model. The top ranks are skipped, since they are
likely to be true positives, and one document from the rank window (e.g. ranks 10–50) becomes
the negative. Mined negatives are marked `negative_mined = 1` and every change is one undoable
action with per-example history, so they can be reviewed, edited or undone like the rest.
"""

import random
from dataclasses import asdict, dataclass

import numpy as np

from storage import curation
from storage.db import transaction
from studio.curation.quality import encode_queries_by_instruction
from studio.errors import StudioError

WRITE_CHUNK = 256


@dataclass
class MiningSettings:
    model: str = "minilm"
    families: tuple[str, ...] | None = ("short-short", "long-long")   # None: any family
    rank_from: int = 10     # 1-based, inclusive
    rank_to: int = 50       # inclusive
    pool: str = "accepted"  # or "not-rejected"
    status: str | None = None   # which examples get negatives; None: any status
    seed: int = 0
    batch_size: int = 32

    def as_args(self) -> dict:
        data = asdict(self)
        data["families"] = list(self.families) if self.families else None
        return data


def pick_in_window(order: list[int], rank_from: int, rank_to: int, rng: random.Random) -> int | None:
    """One candidate from ranks rank_from..rank_to (1-based, inclusive) of `order`; None if too few."""
    window = order[rank_from - 1:rank_to]
    return rng.choice(window) if window else None


def _targets(db, settings: MiningSettings) -> list[dict]:
    sql = ("SELECT id, family, instruction, query, positive FROM examples WHERE negative IS NULL")
    params: list = []
    if settings.families:
        sql += f" AND family IN ({', '.join('?' for _ in settings.families)})"
        params += list(settings.families)
    if settings.status:
        sql += " AND status = ?"
        params.append(settings.status)
    return list(db.query(sql + " ORDER BY id", params))


def _pool(db, family: str, pool: str) -> list[str]:
    condition = "status = 'accepted'" if pool == "accepted" else "status != 'rejected'"
    return [row[0] for row in db.execute(
        f"SELECT DISTINCT positive FROM examples WHERE family = ? AND {condition} ORDER BY positive", [family])]


def run_mining_job(job, settings: MiningSettings) -> dict:
    from studio.embedding import load_model

    if settings.rank_from < 1 or settings.rank_to < settings.rank_from:
        raise StudioError("the rank window needs 1 <= from <= to, e.g. 10 and 50")
    db = job.db
    stats = {"targets": 0, "mined": 0, "skipped": 0, "pool": 0}
    with job.failing("the mining job", stats):
        targets = _targets(db, settings)
        stats["targets"] = len(targets)
        if not targets:
            job.finish(stats=stats, message="No examples without a negative in scope.")
            return stats
        job.progress(0, len(targets), f"loading model {settings.model}")
        model = load_model(settings.model)
        action_id = curation.begin_action(
            db, f"mining job {job.job_id}", "mine",
            f"mine negatives (ranks {settings.rank_from}–{settings.rank_to}, {settings.model})")
        done = 0
        by_family: dict[str, list[dict]] = {}
        for row in targets:
            by_family.setdefault(row["family"], []).append(row)
        for family, rows in by_family.items():
            documents = _pool(db, family, settings.pool)
            stats["pool"] += len(documents)
            if len(documents) < settings.rank_from + 1:
                stats["skipped"] += len(rows)
                done += len(rows)
                job.progress(done, len(targets), f"{family}: pool of {len(documents)} documents is smaller than "
                                                 f"rank {settings.rank_from}; skipped", stats=stats)
                continue
            job.progress(done, len(targets), f"{family}: encoding a pool of {len(documents)} documents")
            doc_vectors = model.encode_documents(documents, batch_size=settings.batch_size)
            for start in range(0, len(rows), WRITE_CHUNK):
                if job.cancel_requested():
                    curation.finish_action(db, action_id)
                    job.cancelled(stats=stats)
                    return stats
                chunk = rows[start:start + WRITE_CHUNK]
                query_vectors = encode_queries_by_instruction(model, chunk, settings.batch_size)
                scores = query_vectors @ doc_vectors.T
                with transaction(db):
                    for row, row_scores in zip(chunk, scores):
                        excluded = {row["positive"], row["query"]}
                        order = [j for j in np.argsort(-row_scores, kind="stable").tolist()
                                 if documents[j] not in excluded]
                        rng = random.Random(settings.seed * 1_000_003 + row["id"])
                        choice = pick_in_window(order, settings.rank_from, settings.rank_to, rng)
                        if choice is None:
                            stats["skipped"] += 1
                            continue
                        try:
                            curation.edit(db, row["id"], {"negative": documents[choice], "negative_mined": 1},
                                          who=f"mining job {job.job_id}", kind="mine", action_id=action_id)
                        except StudioError:
                            stats["skipped"] += 1  # it would duplicate another example
                            continue
                        stats["mined"] += 1
                done += len(chunk)
                job.progress(done, len(targets), f"{family}: mining", stats=stats)
        curation.finish_action(db, action_id)
        job.finish(stats=stats, message=f"Mined {stats['mined']} negatives; skipped {stats['skipped']}.")
        return stats
