"""InfoNCE with in-batch and hard negatives: the loss of METHOD.md §5."""

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

    i.e. cross-entropy with the positive as the target class. τ (`temperature`, default 0.02,
    a scale of 1/τ = 50) is always applied. Examples without a hard negative still train: they
    contribute their query and positive, and simply add no negative column. With every example
    holding a negative this equals sentence-transformers' MultipleNegativesRankingLoss with
    scale = 1/τ.

    Inputs: `queries` and `positives` (B, d); `negatives` (B, d) or None; `negative_mask` (B,)
    bool, which rows of `negatives` are real (None: all of them). Embeddings need not be
    normalised: the cosine normalises them.
    """

    def __init__(self, temperature: float = 0.02):
        super().__init__()
        if temperature <= 0:
            raise ValueError("the temperature must be positive")
        self.temperature = float(temperature)

    def forward(self, queries: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor | None = None,
                negative_mask: torch.Tensor | None = None) -> torch.Tensor:
        documents = positives
        if negatives is not None:
            if negative_mask is not None:
                negatives = negatives[negative_mask.bool()]
            documents = torch.cat([positives, negatives], dim=0)
        scores = F.normalize(queries.float(), dim=-1) @ F.normalize(documents.float(), dim=-1).T
        labels = torch.arange(queries.shape[0], device=queries.device)
        return F.cross_entropy(scores / self.temperature, labels)
