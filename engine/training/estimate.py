"""How long a run will take, shown before launch: padded tokens of the whole run × seconds per token, measured on
two real training steps (after one warm-up) or a rough constant."""
from __future__ import annotations

import time

import torch

from engine.config import TrainConfig
from engine.losses import mix, task_loss
from engine.recipes import contrastive as con
from engine.training.setup import Setup


# ---- time estimate ----------------------------------------------------------------------------------------
def estimate_seconds(s: Setup, config: TrainConfig, timed: bool = True) -> float:
    """Padded tokens of a whole run × seconds per token, measured on two real training steps (after one warm-up),
    or a rough constant when `timed` is False. Model weights are not kept: `plan` builds a throwaway model."""
    order = s.batches.order(config.batch_size, config.seed, 0, config.group_by_length)
    tokens_epoch = s.batches.padded_tokens(order)
    run_tokens = tokens_epoch * (s.rows.epochs if s.rows is not None else config.epochs)
    # the pre-stage: every text twice per pass (anchor, positive), forward and backward
    run_tokens += tokens_epoch * con.examples_seen(s.contrastive_passes, 1)
    eval_tokens = s.val.padded_tokens(s.val.eval_order(2 * config.batch_size)) * len(s.eval_steps)
    per_token = 2e-6 * s.built.total_params / 22e6        # MiniLM on a few CPU cores ≈ 2 µs per token (rough)
    if timed and order:
        model = s.built.model
        model.train()
        picks = sorted(order, key=len, reverse=True)[:3]
        spent, tokens = 0.0, 0
        for i, idx in enumerate(picks):
            batch = s.batches.collate(idx, s.device)
            t = time.perf_counter()
            with s.autocast():
                out = model(batch["input_ids"], batch["attention_mask"], batch.get("features"))
                loss = mix(task_loss(out.logits, batch["labels"]),
                           s.pre(model, batch, out) if config.loss_alpha > 0 and s.pre.kind in ("mlm", "causal")
                           else None, config.loss_alpha)
            loss.backward()
            s.optimizer.step()
            s.optimizer.zero_grad(set_to_none=True)
            if s.device.type == "cuda":
                torch.cuda.synchronize()
            if i:   # the first step pays one-off costs (allocations, kernels)
                spent += time.perf_counter() - t
                tokens += batch["input_ids"].numel()
        if tokens:
            per_token = spent / tokens
    return float(per_token * (run_tokens + eval_tokens / 3))   # evaluation: forward only ≈ ⅓ of a step
