"""Negatives across processes: gather every rank's embeddings, keeping the gradient of our own slice.

Every rank gathers the queries, positives and negatives of all ranks and computes the same
global loss. The gathered copies of other ranks' embeddings carry no gradient, but the local
slice is the local tensor itself, so each rank gets the exact gradient of the global loss with
respect to its own embeddings. Summing the parameter gradients over ranks (`sum_gradients`)
then gives exactly the gradient a single process would compute on the global batch.
"""

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def gather_with_local_grad(local: torch.Tensor) -> torch.Tensor:
    """Concatenate `local` from every rank in rank order; only our own slice keeps its gradient."""
    if not is_distributed():
        return local
    gathered = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, local.detach().contiguous())
    gathered[dist.get_rank()] = local
    return torch.cat(gathered, dim=0)


def sum_gradients(parameters) -> None:
    """Sum each parameter's gradient over ranks (the global loss is computed whole on every rank)."""
    if not is_distributed():
        return
    for parameter in parameters:
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)


def all_reduce_mean(value: float, device) -> float:
    if not is_distributed():
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.item() / dist.get_world_size()
