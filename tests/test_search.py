import numpy as np
import pytest

from studio.evaluation import search
from studio.evaluation.search import top_k


def unit_rows(rng, n, dim=16):
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def brute_force(queries, docs, k):
    scores = queries @ docs.T
    order = np.lexsort((np.broadcast_to(np.arange(len(docs)), scores.shape), -scores), axis=1)[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


@pytest.mark.parametrize("n_docs,k", [(1000, 10), (37, 100), (5, 3)])
def test_top_k_equals_brute_force(n_docs, k):
    rng = np.random.default_rng(n_docs)
    queries, docs = unit_rows(rng, 50), unit_rows(rng, n_docs)
    indices, scores = top_k(queries, docs, k)
    expected_indices, expected_scores = brute_force(queries, docs, min(k, n_docs))
    assert indices.shape == (50, min(k, n_docs))
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-6)


def test_small_blocks_give_the_same_answer_as_one_block(monkeypatch):
    rng = np.random.default_rng(7)
    queries, docs = unit_rows(rng, 300), unit_rows(rng, 5000)
    whole = top_k(queries, docs, 20)
    # Force many document chunks and query batches: memory per block stays tiny, results must not change.
    monkeypatch.setattr(search, "BLOCK_FLOATS", 64 * 100)
    chunked = top_k(queries, docs, 20, query_batch=64)
    np.testing.assert_array_equal(whole[0], chunked[0])
    np.testing.assert_allclose(whole[1], chunked[1])


def test_searches_a_memory_mapped_matrix_and_a_single_query(tmp_path):
    rng = np.random.default_rng(3)
    docs = unit_rows(rng, 2000)
    np.save(tmp_path / "docs.npy", docs)
    mapped = np.load(tmp_path / "docs.npy", mmap_mode="r")
    query = docs[123]
    indices, scores = top_k(query, mapped, 5)
    assert indices[0, 0] == 123 and scores[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_equal_scores_come_in_document_order():
    docs = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    indices, _ = top_k(np.array([[1.0, 0.0]], dtype=np.float32), docs, 3)
    assert indices.tolist() == [[0, 2, 3]]


def test_faiss_is_optional():
    rng = np.random.default_rng(1)
    queries, docs = unit_rows(rng, 3), unit_rows(rng, 100)
    if not search.faiss_available():
        indices, _ = top_k(queries, docs, 5)  # falls back to exact numpy search
        np.testing.assert_array_equal(indices, brute_force(queries, docs, 5)[0])
    else:
        indices, _ = top_k(queries, docs, 5, use_faiss=True)
        np.testing.assert_array_equal(indices, brute_force(queries, docs, 5)[0])
