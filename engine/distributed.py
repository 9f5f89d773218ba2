"""Data parallelism for one run across several GPUs (`gpus=N`), launched by torchrun.

torchrun starts N copies of the training process and sets RANK / WORLD_SIZE / LOCAL_RANK. Every copy builds the
same model (same seed, then rank 0's weights are broadcast), takes its share of each batch, and after `backward`
the gradients are averaged across copies, so all copies make the same update. Rank 0 alone reports progress,
decides cancel / budget stops, writes checkpoints and the artifact.

Why not DistributedDataParallel: our loss can mix outputs of more than one forward pass (L_pre runs the frozen or
masked model too), which DDP's one-forward-one-backward hooks do not cover; one coalesced all-reduce of the
trainable gradients after `backward` is correct for any loss and costs about the same for models of this size.

`batch_size` stays the global batch (each copy takes about batch_size/N examples), so a run means the same thing
whatever the number of GPUs, and a 2-process run matches a 1-process run up to float rounding.

On a machine without GPUs the copies run on the CPU with the gloo backend: only useful to test this path.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def leader(self) -> bool:
        return self.rank == 0


SINGLE = Context()


MARKER = "FTBOT_DISTRIBUTED"   # set by jobs.child before it hands over to torchrun


def from_env() -> Context:
    """The torchrun environment of this process (a single process when WORLD_SIZE is unset or 1). Only runs that
    ftbot itself launched through torchrun count: a stray WORLD_SIZE (a cluster's own launcher) is ignored."""
    if os.environ.get(MARKER) != "1":
        return SINGLE
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        return SINGLE
    return Context(rank, world, local) if world > 1 else SINGLE


def init(ctx: Context, device: torch.device) -> bool:
    """Join the process group (once). True if this call created it (the caller then destroys it)."""
    if not ctx.active or dist.is_initialized():
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, rank=ctx.rank, world_size=ctx.world)
    return True


def close(created: bool) -> None:
    if created and dist.is_initialized():
        dist.destroy_process_group()


def device_for(ctx: Context, base: torch.device) -> torch.device:
    """One GPU per copy: cuda:LOCAL_RANK (torchrun's convention); CPU copies share the CPU."""
    if ctx.active and base.type == "cuda":
        return torch.device("cuda", ctx.local_rank)
    return base


def shard(indices: list[int], ctx: Context) -> list[int]:
    """This copy's contiguous share of a global batch (sizes differ by at most one; may be empty)."""
    if not ctx.active:
        return indices
    n, w = len(indices), ctx.world
    lo, hi = ctx.rank * n // w, (ctx.rank + 1) * n // w
    return indices[lo:hi]


def broadcast_parameters(params: list[torch.Tensor], ctx: Context) -> None:
    """Start from rank 0's weights (the fresh head's initialisation included)."""
    if not ctx.active:
        return
    with torch.no_grad():
        for p in params:
            dist.broadcast(p.data, src=0)


def average_gradients(params: list[torch.Tensor], ctx: Context) -> None:
    """Sum of each copy's gradient / world, in one flat buffer. Each copy scaled its loss by its share of the global
    batch (`share`), so this is the gradient of the mean loss over the whole batch. Copies without examples
    contribute zeros."""
    if not ctx.active:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1).float() for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= ctx.world
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).to(p.dtype)
        offset += n


def share(local: int, total: int, ctx: Context) -> float:
    """Loss scale so that averaging gradients over copies weighs each example equally."""
    return local * ctx.world / total if ctx.active else 1.0


def reduce_sum(values: list[float], ctx: Context, device: torch.device) -> list[float]:
    if not ctx.active:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def agree(code: int, ctx: Context, device: torch.device) -> int:
    """Rank 0's decision (continue / cancel / budget / early stop), the same on every copy."""
    if not ctx.active:
        return code
    t = torch.tensor([code], dtype=torch.int64, device=device)
    dist.broadcast(t, src=0)
    return int(t.item())
