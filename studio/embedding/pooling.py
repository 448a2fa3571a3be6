"""Turning a sequence of hidden states into one vector: last-token or mean pooling.

Both read the attention mask, never the padding side, so they are right under left and right
padding alike.
"""

import torch

POOLINGS = ("last", "mean")


def last_token_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The hidden state at each row's last real token (the highest position whose mask is 1)."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    last = (attention_mask.to(positions.dtype) * positions).argmax(dim=1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The average of the hidden states of the real tokens."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    if pooling == "last":
        return last_token_pool(hidden, attention_mask)
    if pooling == "mean":
        return mean_pool(hidden, attention_mask)
    raise ValueError(f"unknown pooling {pooling!r}; expected one of {POOLINGS}")
