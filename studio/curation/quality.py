"""The quality job: per-example signals computed with an embedding model and stored as columns.

- margin: cos(query, positive) − cos(query, negative); flagged where the negative scores at or
  above the positive (a false or useless hard negative).
- near-duplicates: examples whose (query, positive) pair embeds above a cosine threshold form a
  group; the group keeps one (an accepted one if any, else the oldest) and the rest are flagged.
- length against num_words, empty fields and language mismatch (a field not in the language it
  is tagged with): see studio.curation.checks.
"""

import json
from dataclasses import asdict, dataclass

import numpy as np

from storage.curation import ExampleFilter, where_clause
from storage.db import now, transaction
from studio.curation.checks import text_checks
from studio.errors import StudioError
from studio.prompts.families import load_families

CHUNK = 256            # examples encoded and written per step (progress and cancel granularity)
ROW_BLOCK = 1024       # near-duplicate search compares tiles of ROW_BLOCK x COLUMN_BLOCK vectors:
COLUMN_BLOCK = 8192    # 32 MB of similarities at a time, however many examples there are
TOP_K = 16             # most near-duplicate links kept per example and tile


@dataclass
class QualitySettings:
    model: str = "minilm"
    dup_threshold: float = 0.95
    status: str | None = None          # None: every example
    batch_size: int = 32
    length_tolerance: float = 0.75

    def as_args(self) -> dict:
        return asdict(self)


def encode_queries_by_instruction(model, rows: list[dict], batch_size: int) -> np.ndarray:
    """Queries carry their own instruction, so encode them grouped by instruction."""
    out = np.zeros((len(rows), model.dimension), dtype=np.float32)
    groups: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(row["instruction"] or "", []).append(index)
    for instruction, indices in groups.items():
        vectors = model.encode_queries([rows[i]["query"] for i in indices], instruction=instruction or None,
                                       batch_size=batch_size)
        out[indices] = vectors
    return out


def union_groups(vectors: np.ndarray, threshold: float, top_k: int = TOP_K) -> list[int]:
    """Parent index of each row's near-duplicate group (its own index when alone).

    Rows are unit vectors; a pair above the threshold joins two groups. The similarities are
    computed tile by tile (never an n x n matrix), each pair once, and from one tile a row keeps
    at most its top_k partners above the threshold, so a thousand copies of one text cost
    thousands of links, not a million; the copies still end up in one group, since each of them
    links to some of the others."""
    parent = list(range(len(vectors)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    n = len(vectors)
    for start in range(0, n, ROW_BLOCK):
        block = vectors[start:start + ROW_BLOCK]
        for column in range(start, n, COLUMN_BLOCK):
            sims = block @ vectors[column:column + COLUMN_BLOCK].T
            if column < start + len(block):  # the tile crosses the diagonal: keep pairs i < j only
                i = np.arange(start, start + len(block))[:, None]
                j = np.arange(column, column + sims.shape[1])[None, :]
                sims[j <= i] = -np.inf
            hits = sims > threshold
            crowded = np.nonzero(hits.sum(axis=1) > top_k)[0]
            for r in crowded.tolist():
                best = np.argpartition(-sims[r], top_k)[:top_k]
                hits[r] = False
                hits[r, best] = True
            for r, c in zip(*(part.tolist() for part in np.nonzero(hits))):
                a, b = find(start + r), find(column + c)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return [find(i) for i in range(n)]


def run_quality_job(job, settings: QualitySettings) -> dict:
    """Compute and store the signals for every example in scope; reports progress to `job`."""
    from studio.embedding import load_model

    db = job.db
    with job.failing("the quality job"):
        flt = ExampleFilter(status=settings.status)
        where, params = where_clause(flt)
        ids = [row[0] for row in db.execute(f"SELECT e.id FROM examples e WHERE {where} ORDER BY e.id", params)]
        if not ids:
            job.finish(stats={"examples": 0}, message="No examples to check.")
            return _empty_stats()
        job.progress(0, len(ids), f"loading model {settings.model}")
        model = load_model(settings.model)
        negative_keys = {name: family.negative_key is not None for name, family in load_families().items()}
        pair_vectors = np.zeros((len(ids), 2 * model.dimension), dtype=np.float32)
        stats = _empty_stats()
        stats["examples"] = len(ids)
        statuses = {}
        for start in range(0, len(ids), CHUNK):
            if job.cancel_requested():
                job.cancelled(stats=stats)
                return stats
            chunk_ids = ids[start:start + CHUNK]
            rows = list(db.query(
                "SELECT id, family, language, instruction, query, positive, negative, status, placeholders,"
                " negative_mined FROM examples WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
                [json.dumps(chunk_ids)]))
            found = {row["id"] for row in rows}
            for missing in set(chunk_ids) - found:  # deleted while the job ran
                statuses[missing] = None
            queries = encode_queries_by_instruction(model, rows, settings.batch_size)
            positives = model.encode_documents([row["positive"] for row in rows], batch_size=settings.batch_size)
            with_negative = [i for i, row in enumerate(rows) if row["negative"]]
            negatives = model.encode_documents([rows[i]["negative"] for i in with_negative],
                                               batch_size=settings.batch_size) if with_negative else None
            updates = []
            for i, row in enumerate(rows):
                statuses[row["id"]] = row["status"]
                position = start + chunk_ids.index(row["id"])
                # The pair vector's dot product is the mean of the query and positive cosines.
                pair_vectors[position] = np.concatenate([queries[i], positives[i]]) / np.sqrt(2.0)
                margin, margin_flag = None, None
                if negatives is not None and i in with_negative:
                    negative = negatives[with_negative.index(i)]
                    margin = float(queries[i] @ positives[i] - queries[i] @ negative)
                    margin_flag = int(margin <= 0)
                placeholders = _placeholders(row["placeholders"])
                checks = text_checks(row, placeholders, negative_keys.get(row["family"], False),
                                     settings.length_tolerance)
                problems = checks.pop("problems")
                if margin_flag:
                    problems.insert(0, f"negative ≥ positive (margin {margin:+.3f})")
                updates.append([margin, margin_flag, checks["q_length_ratio"], checks["q_length_flag"],
                                checks["q_language_flag"], checks["q_empty_flag"], "; ".join(problems) or None,
                                settings.model, now(), row["id"]])
                stats["margin_flags"] += int(bool(margin_flag))
                stats["length_flags"] += int(bool(checks["q_length_flag"]))
                stats["language_flags"] += checks["q_language_flag"]
                stats["empty_flags"] += checks["q_empty_flag"]
            with transaction(db):
                db.conn.executemany(
                    "UPDATE example_rows SET q_margin = ?, q_margin_flag = ?, q_length_ratio = ?, q_length_flag = ?,"
                    " q_language_flag = ?, q_empty_flag = ?, q_problems = ?, q_model = ?, q_at = ? WHERE id = ?",
                    updates)
            job.progress(min(start + CHUNK, len(ids)), len(ids), "encoding and checking examples", stats=stats)
        job.progress(len(ids), len(ids), "grouping near-duplicates", stats=stats)
        stats["dup_groups"], stats["dup_extra"] = _store_duplicate_groups(
            db, ids, pair_vectors, statuses, settings.dup_threshold)
        job.finish(stats=stats, message=_summary(stats))
        return stats


def _store_duplicate_groups(db, ids, vectors, statuses, threshold) -> tuple[int, int]:
    present = [i for i, example_id in enumerate(ids) if statuses.get(example_id) is not None]
    roots = union_groups(vectors[present], threshold)
    members: dict[int, list[int]] = {}
    for local, root in enumerate(roots):
        members.setdefault(root, []).append(ids[present[local]])
    updates = []
    groups = extra = 0
    for group in members.values():
        if len(group) == 1:
            updates.append([None, None, group[0]])
            continue
        groups += 1
        extra += len(group) - 1
        accepted = [example_id for example_id in group if statuses[example_id] == "accepted"]
        keep = min(accepted) if accepted else min(group)
        updates.extend([keep, len(group), example_id] for example_id in group)
    with transaction(db):
        db.conn.executemany("UPDATE example_rows SET q_dup_group = ?, q_dup_size = ? WHERE id = ?", updates)
        # A duplicate's problem list says so, for the table's problems column.
        db.conn.executemany(
            "UPDATE example_rows SET q_problems = CASE WHEN q_problems IS NULL THEN ? ELSE q_problems || '; ' || ? END"
            " WHERE id = ? AND q_dup_group != id",
            [[f"near-duplicate of {keep}"] * 2 + [example_id] for keep, _, example_id in updates if keep])
    return groups, extra


def _placeholders(value) -> dict:
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _empty_stats() -> dict:
    return {"examples": 0, "margin_flags": 0, "dup_groups": 0, "dup_extra": 0, "length_flags": 0,
            "language_flags": 0, "empty_flags": 0}


def _summary(stats: dict) -> str:
    return (f"Checked {stats['examples']} examples: {stats['margin_flags']} with negative ≥ positive, "
            f"{stats['dup_groups']} near-duplicate groups ({stats['dup_extra']} extra copies), "
            f"{stats['length_flags']} off-length, {stats['language_flags']} in another language than tagged, "
            f"{stats['empty_flags']} with an empty field.")
