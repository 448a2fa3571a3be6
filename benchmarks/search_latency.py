"""Top-10 latency over 100,000 × 384 stored vectors: our chunked exact search against
sentence-transformers' util.semantic_search on the same vectors and queries.

Prints p50/p95 per single query and per batch of 64 queries for both; the last line holds our
p95 figures (goals: < 50 ms per query).

    python benchmarks/search_latency.py [--docs 100000] [--dim 384] [--queries 200] [--batches 30]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio.evaluation.search import top_k  # noqa: E402


def unit_rows(rng, n, dim):
    rows = rng.standard_normal((n, dim), dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def timed(fn, inputs) -> list[float]:
    fn(inputs[0])  # warm-up
    times = []
    for item in inputs:
        started = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - started) * 1000)
    return times


def describe(name, times):
    return f"{name:<42} p50 {np.percentile(times, 50):8.2f} ms   p95 {np.percentile(times, 95):8.2f} ms"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--batches", type=int, default=30)
    args = parser.parse_args()

    import torch
    from sentence_transformers import util

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "docs.npy"
        np.save(path, unit_rows(rng, args.docs, args.dim))
        docs = np.load(path, mmap_mode="r")  # stored vectors, as the embedding cache serves them
        docs_tensor = torch.from_numpy(np.asarray(docs))
        singles = list(unit_rows(rng, args.queries, args.dim)[:, None, :])
        batches = [unit_rows(rng, 64, args.dim) for _ in range(args.batches)]

        # Same answers first: the comparison is only fair if both find the same documents.
        ours, _ = top_k(batches[0], docs, 10)
        theirs = util.semantic_search(torch.from_numpy(batches[0]), docs_tensor, top_k=10)
        agree = np.mean([set(ours[i]) == {hit["corpus_id"] for hit in theirs[i]} for i in range(64)])

        ours_single = timed(lambda q: top_k(q, docs, 10), singles)
        st_single = timed(lambda q: util.semantic_search(torch.from_numpy(q), docs_tensor, top_k=10), singles)
        ours_batch = timed(lambda q: top_k(q, docs, 10), batches)
        st_batch = timed(lambda q: util.semantic_search(torch.from_numpy(q), docs_tensor, top_k=10), batches)

    print(f"{args.docs} x {args.dim} float32 vectors (memory-mapped .npy), torch threads {torch.get_num_threads()}")
    print(f"top-10 sets identical to semantic_search on {agree:.0%} of 64 queries")
    print(describe("ours, one query", ours_single))
    print(describe("semantic_search, one query", st_single))
    print(describe("ours, batch of 64", ours_batch))
    print(describe("semantic_search, batch of 64", st_batch))
    print(f"median ratio semantic_search/ours: one query {np.median(st_single) / np.median(ours_single):.2f}, "
          f"batch {np.median(st_batch) / np.median(ours_batch):.2f}")
    print(f"top-10 over {args.docs}x{args.dim}: p95 per query {np.percentile(ours_single, 95):.2f} ms (goal < 50), "
          f"p95 per batch of 64 {np.percentile(ours_batch, 95):.2f} ms "
          f"({np.percentile(ours_batch, 95) / 64:.2f} ms per query)")


if __name__ == "__main__":
    main()
