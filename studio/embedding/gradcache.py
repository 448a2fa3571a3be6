"""One contrastive backward pass, optionally with cached in-batch negatives (GradCache).

Gradient accumulation would give each small step only its own in-batch negatives. GradCache
(Gao et al., 2021) keeps the whole batch as negatives while holding only `mini_batch` texts'
activations at a time:

1. embed every text in chunks of `mini_batch` without building a graph, remembering each
   chunk's random state;
2. compute the loss (with its temperature) on those detached embeddings and backpropagate it
   to the embeddings only: g = ∂loss/∂embedding;
3. re-embed each chunk with a graph, replaying its random state so dropout matches, and
   backpropagate g through it (the chain rule: ∂loss/∂θ = Σ g · ∂embedding/∂θ).

The parameter gradients equal the uncached ones; memory is that of one chunk plus the batch's
embeddings, at the cost of a second forward pass.
"""

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch

from studio.embedding.distributed import gather_with_local_grad
from studio.embedding.loss import text_keys


@dataclass
class StepResult:
    loss: float
    tokens: int  # real (unpadded) tokens embedded in this step


class _RandomState:
    """The random state before a chunk's first forward, to replay it for the second."""

    def __init__(self, device: torch.device):
        self.device = device
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None

    @contextmanager
    def replay(self):
        devices = [self.device] if self.cuda is not None else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.cpu)
            if self.cuda is not None:
                torch.cuda.set_rng_state(self.cuda, self.device)
            yield


def batch_loss(loss_fn, queries, positives, negatives, negative_mask, keys=None) -> torch.Tensor:
    """The loss over the global batch: every process's embeddings gathered (see distributed.py).

    `keys` (query, positive, negative text keys) let the loss leave duplicates out of the negatives.
    """
    mask = gather_with_local_grad(negative_mask.to(torch.uint8)).bool()  # gloo gathers no bools
    gathered_keys = [gather_with_local_grad(k) for k in keys] if keys is not None else [None] * 3
    return loss_fn(gather_with_local_grad(queries), gather_with_local_grad(positives),
                   gather_with_local_grad(negatives), mask, *gathered_keys)


def _split_documents(doc_embeddings, batch_size: int, negative_mask: torch.Tensor):
    """(positives, negatives laid out one row per example with zeros where none) from positives+present negatives."""
    positives = doc_embeddings[:batch_size]
    present = doc_embeddings[batch_size:]
    negatives = doc_embeddings.new_zeros(batch_size, doc_embeddings.shape[1])
    negatives = negatives.index_put((negative_mask.nonzero().squeeze(1),), present)
    return positives, negatives


def contrastive_backward(model, loss_fn, queries: list[str], positives: list[str], negatives: list[str | None],
                         mini_batch: int | None = None, autocast=nullcontext) -> StepResult:
    """Embed a batch, compute the InfoNCE loss and backpropagate it into the model's parameters.

    `queries` are already formatted with their instruction; `negatives[i]` is None where example
    i has no hard negative. `mini_batch` (None: no caching) is the most texts embedded with a
    graph at once. `autocast` is a context-manager factory (bf16 on CUDA).
    """
    batch_size = len(queries)
    negative_mask = torch.tensor([n is not None for n in negatives], dtype=torch.bool, device=model.device)
    keys = [text_keys(texts, model.device) for texts in (queries, positives, negatives)]
    documents = list(positives) + [n for n in negatives if n is not None]
    if not mini_batch or mini_batch >= max(batch_size, len(documents)):
        return _plain_backward(model, loss_fn, queries, positives, documents[batch_size:], negative_mask, keys,
                               autocast)

    query_chunks = [model.tokenize(queries[i:i + mini_batch]) for i in range(0, batch_size, mini_batch)]
    doc_chunks = [model.tokenize(documents[i:i + mini_batch]) for i in range(0, len(documents), mini_batch)]
    chunks = query_chunks + doc_chunks

    # 1. Embed without a graph, remembering each chunk's random state.
    states, embeddings = [], []
    with torch.no_grad():
        for features in chunks:
            states.append(_RandomState(model.device))
            with autocast():
                embeddings.append(model(features))
    query_cache = torch.cat(embeddings[:len(query_chunks)]).detach().requires_grad_()
    doc_cache = torch.cat(embeddings[len(query_chunks):]).detach().requires_grad_()

    # 2. The loss on the cached embeddings; its gradient stops at the embeddings.
    cached_positives, cached_negatives = _split_documents(doc_cache, batch_size, negative_mask)
    loss = batch_loss(loss_fn, query_cache, cached_positives, cached_negatives, negative_mask, keys)
    loss.backward()
    gradients = list(query_cache.grad.split([len(c["input_ids"]) for c in query_chunks])) + \
        list(doc_cache.grad.split([len(c["input_ids"]) for c in doc_chunks]))

    # 3. Re-embed each chunk with a graph and push its slice of the gradient through it.
    for features, state, gradient in zip(chunks, states, gradients):
        with state.replay(), autocast():
            chunk_embeddings = model(features)
        chunk_embeddings.backward(gradient=gradient)
    return StepResult(loss.item(), _count_tokens(chunks))


def _plain_backward(model, loss_fn, queries, positives, present_negatives, negative_mask, keys,
                    autocast) -> StepResult:
    # Queries, positives and negatives are padded separately: each group has lengths of its own.
    groups = [model.tokenize(texts) for texts in (queries, positives, present_negatives) if texts]
    with autocast():
        embeddings = [model(features) for features in groups]
    doc_embeddings = torch.cat(embeddings[1:])
    positive_embeddings, negative_embeddings = _split_documents(doc_embeddings, len(queries), negative_mask)
    loss = batch_loss(loss_fn, embeddings[0], positive_embeddings, negative_embeddings, negative_mask, keys)
    loss.backward()
    return StepResult(loss.item(), _count_tokens(groups))


def _count_tokens(chunks) -> int:
    return int(sum(int(c["attention_mask"].sum()) for c in chunks))
