"""Exact top-k search by inner product (cosine, since embeddings are L2-normalised).

Scores are computed block by block (a batch of queries against a chunk of documents), and only
the best k of each block survive, so memory stays bounded by the block size whatever the corpus
size: the document matrix may be a read-only memory map from the embedding cache.
For corpora over a million documents FAISS (exact inner-product index) is used when installed.
"""

import importlib.util

import numpy as np

FAISS_MIN_DOCS = 1_000_000
BLOCK_FLOATS = 1 << 24  # scores held at once: 16M float32 = 64 MiB


def faiss_available() -> bool:
    return importlib.util.find_spec("faiss") is not None


def top_k(queries: np.ndarray, docs: np.ndarray, k: int, use_faiss: bool | None = None,
          query_batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores (each n_queries × k', k' = min(k, n_docs)) of the best documents, best first.

    `use_faiss=None` picks FAISS for corpora over a million documents when it is installed.
    """
    queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    k = min(k, len(docs))
    if k <= 0 or len(queries) == 0:
        return np.zeros((len(queries), 0), dtype=np.int64), np.zeros((len(queries), 0), dtype=np.float32)
    if use_faiss is None:
        use_faiss = len(docs) > FAISS_MIN_DOCS and faiss_available()
    if use_faiss:
        return _faiss_top_k(queries, docs, k)
    all_indices = np.empty((len(queries), k), dtype=np.int64)
    all_scores = np.empty((len(queries), k), dtype=np.float32)
    doc_chunk = max(k, BLOCK_FLOATS // max(1, min(query_batch, len(queries))))
    for start in range(0, len(queries), query_batch):
        batch = queries[start:start + query_batch]
        indices, scores = _exact_block_top_k(batch, docs, k, doc_chunk)
        all_indices[start:start + len(batch)] = indices
        all_scores[start:start + len(batch)] = scores
    return all_indices, all_scores


def _exact_block_top_k(batch: np.ndarray, docs: np.ndarray, k: int, doc_chunk: int):
    best_scores = np.full((len(batch), 0), -np.inf, dtype=np.float32)
    best_indices = np.zeros((len(batch), 0), dtype=np.int64)
    for offset in range(0, len(docs), doc_chunk):
        chunk = np.asarray(docs[offset:offset + doc_chunk], dtype=np.float32)
        scores = batch @ chunk.T
        if scores.shape[1] > k:
            keep = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            scores = np.take_along_axis(scores, keep, axis=1)
        else:
            keep = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
        best_scores = np.concatenate([best_scores, scores], axis=1)
        best_indices = np.concatenate([best_indices, keep + offset], axis=1)
        if best_scores.shape[1] > k:
            keep = np.argpartition(-best_scores, k - 1, axis=1)[:, :k]
            best_scores = np.take_along_axis(best_scores, keep, axis=1)
            best_indices = np.take_along_axis(best_indices, keep, axis=1)
    # Best first; equal scores by lower document index, so results are deterministic.
    order = np.lexsort((best_indices, -best_scores), axis=1)
    return np.take_along_axis(best_indices, order, axis=1), np.take_along_axis(best_scores, order, axis=1)


def _faiss_top_k(queries: np.ndarray, docs: np.ndarray, k: int):
    import faiss

    index = faiss.IndexFlatIP(docs.shape[1])
    chunk = 1 << 18
    for offset in range(0, len(docs), chunk):
        index.add(np.ascontiguousarray(docs[offset:offset + chunk], dtype=np.float32))
    scores, indices = index.search(queries, k)
    return indices.astype(np.int64), scores.astype(np.float32)
