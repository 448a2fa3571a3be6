"""InfoNCE with in-batch and hard negatives: the loss of METHOD.md §5."""

import hashlib

import torch
import torch.nn.functional as F
from torch import nn


class InfoNCELoss(nn.Module):
    r"""Contrastive loss of each query against its positive and every other document in the batch.

    For a batch of B examples with query q_i, positive p_i and, where present, a hard negative
    n_i, the candidate documents are every positive and every hard negative of the batch:

        C = {p_1, ..., p_B} ∪ {n_j : example j has a hard negative}
        s(q, c) = cos(q, c) / τ
        loss = (1 / B) Σ_i -log( exp s(q_i, p_i) / Σ_{c ∈ C} exp s(q_i, c) )

    i.e. cross-entropy with the positive as the target class. τ (`temperature`, default 0.02, a
    scale of 1/τ = 50) is always applied. Examples without a hard negative still train: they
    contribute their query and positive, and simply add no negative column.

    Duplicate masking (`mask_duplicates`, default on): a candidate that is not a negative at all
    is left out of q_i's denominator: a document whose text equals p_i (the same passage generated
    twice, or a hard negative identical to another example's positive), and the positive of
    another example with the same query. Without it, duplicates in a batch push a query away from
    its own answer. It needs the text keys (`text_keys`); without keys, or with the option off,
    every candidate counts. With no duplicates in the batch, or with masking off, and every
    example holding a negative, this equals sentence-transformers' MultipleNegativesRankingLoss
    with scale = 1/τ (which does no masking).

    Inputs: `queries` and `positives` (B, d); `negatives` (B, d) or None; `negative_mask` (B,)
    bool, which rows of `negatives` are real (None: all of them); optional `query_keys`,
    `positive_keys` and `negative_keys` (B,) int64 from `text_keys` (None: no texts are
    compared). Embeddings need not be normalised: the cosine normalises them.
    """

    def __init__(self, temperature: float = 0.02, mask_duplicates: bool = True):
        super().__init__()
        if temperature <= 0:
            raise ValueError("the temperature must be positive")
        self.temperature = float(temperature)
        self.mask_duplicates = bool(mask_duplicates)

    def forward(self, queries: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor | None = None,
                negative_mask: torch.Tensor | None = None, query_keys: torch.Tensor | None = None,
                positive_keys: torch.Tensor | None = None, negative_keys: torch.Tensor | None = None) -> torch.Tensor:
        documents = positives
        if negatives is not None:
            if negative_mask is not None:
                negatives = negatives[negative_mask.bool()]
                negative_keys = negative_keys[negative_mask.bool()] if negative_keys is not None else None
            documents = torch.cat([positives, negatives], dim=0)
        scores = F.normalize(queries.float(), dim=-1) @ F.normalize(documents.float(), dim=-1).T / self.temperature
        if self.mask_duplicates and positive_keys is not None:
            not_negatives = _not_negatives(query_keys, positive_keys, negative_keys, documents.shape[0])
            scores = scores.masked_fill(not_negatives, float("-inf"))
        labels = torch.arange(queries.shape[0], device=queries.device)
        return F.cross_entropy(scores, labels)


def _not_negatives(query_keys, positive_keys, negative_keys, candidates: int) -> torch.Tensor:
    """(B, C) True where candidate c also answers query i, other than its own target c = i."""
    batch = positive_keys.shape[0]
    same = torch.zeros(batch, candidates, dtype=torch.bool, device=positive_keys.device)
    same[:, :batch] = positive_keys[None, :] == positive_keys[:, None]
    if query_keys is not None:
        same[:, :batch] |= query_keys[None, :] == query_keys[:, None]
    if negative_keys is not None and candidates > batch:
        same[:, batch:] = negative_keys[None, :] == positive_keys[:, None]
    same.fill_diagonal_(False)  # the diagonal of the first B columns holds the targets
    return same


def text_keys(texts: list[str | None], device=None) -> torch.Tensor:
    """An int64 per text, equal for equal texts in every process (Python's hash() is salted per process)."""
    keys = [int.from_bytes(hashlib.blake2b((t or "").encode(), digest_size=8).digest(), "little", signed=True)
            for t in texts]
    return torch.tensor(keys, dtype=torch.int64, device=device)
