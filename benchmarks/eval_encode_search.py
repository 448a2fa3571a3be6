"""Encode + search of SciFact with minilm: our evaluation path against sentence-transformers'
`encode` + `util.semantic_search`, on the same corpus, queries, model files and max length (256).

Ours: studio.embedding.load_model + the embedding cache's encoder (a fresh, empty cache, so every
document is encoded) + studio.evaluation.search.top_k. Theirs: SentenceTransformer(minilm).encode
(normalised) + util.semantic_search. Both return the top 100 per query. Model loading is not timed.
The last line is the ratio (their seconds / ours; goal ≥ 1.0).

    python benchmarks/eval_encode_search.py [--beir ../shared/eval/scifact] [--docs N] [--repeats R]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))


def ours(model, doc_texts, query_texts, data):
    from studio.evaluation import embedding_cache
    from studio.evaluation.search import top_k

    os.environ["STUDIO_DATA_DIR"] = data  # a fresh cache: everything is encoded
    docs = embedding_cache.document_embeddings(model, "bench", "scifact", doc_texts)
    queries = model.encode_queries(query_texts)
    indices, _ = top_k(queries, docs, 100)
    return indices


def theirs(model, doc_texts, query_texts):
    from sentence_transformers import util

    docs = model.encode(doc_texts, batch_size=32, convert_to_tensor=True, normalize_embeddings=True)
    queries = model.encode(query_texts, batch_size=32, convert_to_tensor=True, normalize_embeddings=True)
    hits = util.semantic_search(queries, docs, top_k=100)
    return np.array([[hit["corpus_id"] for hit in row] for row in hits])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--beir", default=str(REPO_ROOT.parent / "shared" / "eval" / "scifact"))
    parser.add_argument("--docs", type=int, default=None, help="use only the first N documents (quick runs)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from studio.embedding import load_model
    from studio.evaluation.beir import load_beir
    from studio.model_registry import minilm_dir

    dataset = load_beir(args.beir, "test")
    doc_texts = dataset.doc_texts[:args.docs] if args.docs else dataset.doc_texts
    query_texts = list(dataset.queries.values())
    our_model = load_model("minilm", max_length=256)
    their_model = SentenceTransformer(str(minilm_dir()), device="cpu")
    their_model.max_seq_length = 256

    our_times, their_times = [], []
    for repeat in range(args.repeats):
        # Alternate who goes first, so neither always runs on a warmer machine.
        for side in (("ours", "theirs") if repeat % 2 == 0 else ("theirs", "ours")):
            started = time.perf_counter()
            if side == "ours":
                with tempfile.TemporaryDirectory() as data:
                    our_top = ours(our_model, doc_texts, query_texts, data)
                our_times.append(time.perf_counter() - started)
            else:
                their_top = theirs(their_model, doc_texts, query_texts)
                their_times.append(time.perf_counter() - started)
    same_top10 = np.mean([set(a[:10]) == set(b[:10]) for a, b in zip(our_top, their_top)])
    print(f"{len(doc_texts)} documents, {len(query_texts)} queries, max length 256, "
          f"torch threads {torch.get_num_threads()}, repeats {args.repeats}")
    print(f"same top-10 set on {same_top10:.1%} of queries")
    print(f"ours   (load_model + cached encoder + top_k):     median {np.median(our_times):8.2f} s  {our_times}")
    print(f"theirs (SentenceTransformer.encode + semantic_search): median {np.median(their_times):8.2f} s  {their_times}")
    print(f"ratio theirs/ours (goal >= 1.0): {np.median(their_times) / np.median(our_times):.3f}")


if __name__ == "__main__":
    main()
