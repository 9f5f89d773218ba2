"""Task loss, the pretraining-objective loss L_pre (one kind per model family, or l2sp), and their mix.

L = α·L_pre + (1−α)·L_new (DESIGN "α and frozen layers"); `loss_alpha` in code, never LoRA's `lora_alpha`.
L_pre keeps the encoder close to what it was pretrained for, against catastrophic forgetting:
  mlm       masked-LM loss on the batch's own texts (BERT's objective; frozen pretrained head)
  causal    next-token loss on the texts (GPT-1's auxiliary objective; frozen pretrained LM head)
  embedding 1 − cosine(pooled tuned embedding, pooled pretrained embedding), pretrained side computed once
  l2sp      ½‖θ−θ₀‖² over the encoder's trainable weights (for LoRA: ½‖ΔW‖² of the adapters)
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MLM_PROBABILITY = 0.15


def mix(loss_new: torch.Tensor, loss_pre: torch.Tensor | None, loss_alpha: float) -> torch.Tensor:
    if loss_pre is None or loss_alpha == 0:
        return loss_new
    return loss_alpha * loss_pre + (1 - loss_alpha) * loss_new


def task_loss(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    return F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing)


def penalties(params: list[torch.Tensor], l1: float, l2: float) -> torch.Tensor | None:
    """Optional L1/L2 on trainable weight matrices (biases and norms excluded, as with weight decay)."""
    if not (l1 or l2):
        return None
    weights = [p for p in params if p.requires_grad and p.dim() >= 2]
    total = 0.0
    if l1:
        total = total + l1 * sum(p.abs().sum() for p in weights)
    if l2:
        total = total + l2 * sum(p.pow(2).sum() for p in weights)
    return total


def mask_tokens(input_ids: torch.Tensor, attention_mask: torch.Tensor, special_ids: list[int], mask_id: int,
                vocab_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: 15 % of real tokens chosen; of those 80 % → [MASK], 10 % → random, 10 % kept.
    Special and padding tokens are never chosen; every row with a real token gets at least one."""
    cpu_ids = input_ids.cpu()
    maskable = attention_mask.cpu().bool() & ~torch.isin(cpu_ids, torch.tensor(special_ids, dtype=cpu_ids.dtype))
    score = torch.rand(cpu_ids.shape, generator=generator)
    chosen = (score < MLM_PROBABILITY) & maskable
    need = ~chosen.any(1) & maskable.any(1)     # short texts: make sure each contributes a target
    first = score.masked_fill(~maskable, 2.0).argmin(1)
    chosen[need, first[need]] = True
    labels = cpu_ids.masked_fill(~chosen, -100)
    action = torch.rand(cpu_ids.shape, generator=generator)
    masked = cpu_ids.clone()
    masked[chosen & (action < 0.8)] = mask_id
    rand = chosen & (action >= 0.8) & (action < 0.9)
    masked[rand] = torch.randint(vocab_size, cpu_ids.shape, generator=generator)[rand]
    return masked.to(input_ids.device), labels.to(input_ids.device)


class PreLoss:
    """Computes L_pre of one kind for a batch. Built once per run by `prepare` (frozen references captured there)."""

    def __init__(self, kind: str, tokenizer=None, seed: int = 0):
        self.kind = kind
        self.tokenizer = tokenizer
        self.generator = torch.Generator().manual_seed(seed)   # masking repeats with the seed (and resumes)
        self.reference: torch.Tensor | None = None              # embedding: (N_train, H) frozen pooled embeddings
        self.theta0: dict[str, torch.Tensor] = {}               # l2sp (full): θ₀ of trainable encoder weights

    def prepare(self, model: nn.Module, train_batches=None, batch_size: int = 64) -> "PreLoss":
        """Capture frozen references from the model *before any update* (it still equals the pretrained one)."""
        if self.kind == "embedding":
            self.reference = frozen_embeddings(model, train_batches, batch_size)
        elif self.kind == "l2sp" and not _lora_layers(model.encoder):
            self.theta0 = {n: p.detach().clone() for n, p in model.encoder.named_parameters() if p.requires_grad}
        return self

    def __call__(self, model: nn.Module, batch: dict, out) -> torch.Tensor:
        if self.kind == "mlm":
            return mlm_loss(model, batch, self.tokenizer, self.generator)
        if self.kind == "causal":
            return causal_loss(model, batch, out.hidden)
        if self.kind == "embedding":
            ref = self.reference[batch["index"]].to(out.pooled.device)
            return embedding_loss(out.pooled, ref)
        if self.kind == "l2sp":
            return l2sp_loss(model, self.theta0)
        raise ValueError(f"unknown pre_loss kind {self.kind!r}")


def mlm_loss(model, batch, tokenizer, generator) -> torch.Tensor:
    special = list(tokenizer.all_special_ids)
    vocab = model.encoder.config.vocab_size   # random replacements must be ids the embeddings know
    masked, labels = mask_tokens(batch["input_ids"], batch["attention_mask"], special, tokenizer.mask_token_id,
                                 vocab, generator)
    hidden = model.hidden(masked, batch["attention_mask"])
    logits = model.pre_head(hidden)
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def causal_loss(model, batch, hidden: torch.Tensor) -> torch.Tensor:
    """Next-token loss reusing the task forward's hidden states (same unmasked input): no extra encoder pass."""
    logits = model.pre_head(hidden[:, :-1])
    targets = batch["input_ids"][:, 1:].masked_fill(batch["attention_mask"][:, 1:] == 0, -100)
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)


def embedding_loss(pooled: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    return (1 - F.cosine_similarity(pooled.float(), reference.float(), dim=-1)).mean()


def _lora_layers(encoder: nn.Module) -> list:
    from peft.tuners.lora import LoraLayer
    return [m for m in encoder.modules() if isinstance(m, LoraLayer)]


def l2sp_loss(model, theta0: dict[str, torch.Tensor]) -> torch.Tensor:
    layers = _lora_layers(model.encoder)
    if layers:   # the adapters *are* θ−θ₀: ΔW = scale·B·A per adapted weight
        total = sum(l.get_delta_weight(a).float().pow(2).sum() for l in layers for a in l.active_adapters
                    if a in l.lora_A)
        return 0.5 * total
    params = dict(model.encoder.named_parameters())
    device = next(iter(params.values())).device
    total = torch.zeros((), device=device)
    for n, p0 in theta0.items():
        total = total + (params[n].float() - p0.to(p0.device).float()).pow(2).sum()
    return 0.5 * total


@torch.no_grad()
def frozen_embeddings(model, batches, batch_size: int = 64, rows=None) -> torch.Tensor:
    """Pooled embeddings in eval mode (no dropout): of every training example by example index, or of the example
    indices `rows` in that order (engine/recipes/probe_head.py fits its probe on a subset)."""
    from engine.classifier import pool
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rows = np.arange(len(batches)) if rows is None else np.asarray(rows)
    by_length = np.argsort(-batches.lengths[rows], kind="stable")     # positions in `rows`; little padding per batch
    out = torch.zeros((len(rows), model.head.in_features), dtype=torch.float32)
    try:
        for start in range(0, len(by_length), batch_size):
            pos = by_length[start:start + batch_size]
            b = batches.collate(rows[pos].tolist(), device)
            hidden = model.hidden(b["input_ids"], b["attention_mask"])
            out[torch.from_numpy(pos)] = pool(hidden, b["attention_mask"], model.pooling).float().cpu()
    finally:
        model.train(was_training)
    return out.to(device)
