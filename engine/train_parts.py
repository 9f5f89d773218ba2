"""Pieces around the training loop in engine/train.py: setup (model, batches, optimizer, schedule, L_pre),
evaluation with early-stopping bookkeeping, resumable checkpoints, and the artifact."""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from engine.batching import Batches
from engine.config import TrainConfig
from engine.data.types import PreparedDataset
from engine.errors import ConfigError, TrainingError
from engine.losses import PreLoss, mix, task_loss
from engine.artifact import save_trained, saved_kind
from engine.classifier import Built, build, model_parameters
from engine import contrastive as con

log = logging.getLogger(__name__)
CHECKPOINT_FILE = "state.pt"
CHECKPOINT_FORMAT = 2    # 2: loadable with torch.load(weights_only=True)
ROWS_FILE = "rows.json"
HISTORY_STEPS = 500          # at most about this many step lines in history (evaluations are always kept)
# Keys that may change between a run and its resume without invalidating the checkpoint.
RUNTIME_KEYS = {"budget", "threads", "device", "patience", "gpus", "serve"}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def safe_callback(fn: Callable | None) -> Callable:
    """A failing progress callback (Slack down, say) must not fail the training run."""
    def emit(p):
        if fn is None:
            return
        try:
            fn(p)
        except Exception:   # noqa: BLE001
            log.exception("progress callback failed")
    return emit


@dataclass
class Setup:
    built: Built
    batches: Batches
    val: Batches
    device: torch.device
    autocast: Callable
    params: list
    optimizer: Any
    scheduler: Any
    pre: PreLoss
    steps_per_epoch: int
    total_steps: int
    eval_steps: set
    history_every: int
    fingerprint: str
    head_init: str               # resolved: 'probe' or 'random' ('auto' decided on this training set)
    tabular_text: str = "full"   # resolved: what the encoder reads of a tabular row ('auto' decided here)
    probe: dict | None = None    # head_init=probe: what the linear probe reached on the training examples
    rows: Any = None             # engine.rows.RowPlan: the rows the transformer sees, held-out rows, epochs
    contrastive: dict | None = None   # what the contrastive pre-stage did (engine/contrastive.py), if it ran
    contrastive_passes: float = 0.0   # resolved contrastive_epochs ('auto' decided on this training set)
    last_val_proba: Any = None   # the last evaluation's validation probabilities (numpy, rows in s.val order)


@dataclass
class State:
    step: int = 0
    history: list = field(default_factory=list)
    best_value: float = -math.inf
    best_metrics: dict = field(default_factory=dict)
    best_state: dict | None = None
    best_step: int | None = None
    bad_evals: int = 0
    last_eval_step: int = -1
    elapsed_s: float = 0.0   # wall time of earlier sessions of this run (budget spans resumes)
    best_val_proba: Any = None   # validation probabilities of the best weights (not checkpointed: a resumed run's
                                 # report predicts them again)


def resolve_device(config: TrainConfig) -> torch.device:
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "cuda", "no CUDA GPU is visible here; use device=auto or device=cpu")
    return torch.device("cuda" if config.device in ("cuda", "auto") and torch.cuda.is_available() else "cpu")


def bf16_native(device: torch.device) -> bool:
    """Does this device do bf16 matmuls in hardware: CUDA with bf16, or a CPU with AVX512-BF16 / AMX? Elsewhere bf16
    is emulated and slower than fp32."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    cpu = getattr(torch, "cpu", None)
    return bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
                or getattr(cpu, "_is_amx_tile_supported", lambda: False)())


def forward_autocast(precision: str | None, device: torch.device) -> Callable:
    """Autocast for forward-only passes whose output need not be exact — the probe's starting point, the forgetting
    summary, the embedding partner — never for the evaluation that reports: bf16 where the device does it natively
    (MiniLM's forward on 512 BANKING77 texts 1.9 s vs 3.3 s in fp32 on one core here), unless `precision=fp32`."""
    if precision == "fp32" or not bf16_native(device):
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _autocast(config: TrainConfig, device: torch.device) -> Callable:
    """Training's forward and backward: bf16 autocast (the weights and the optimizer stay fp32) where the device does
    bf16 natively, or when asked for. On this CPU (AVX512-BF16) the 2,000-text full fine-tune's 125 steps take 20
    instead of 25.5 s; the accuracy figures in docs/benchmarks.md (issue 14, stop 14) were re-measured with it."""
    bf16 = config.precision == "bf16" or (config.precision == "auto" and bf16_native(device))
    if not bf16:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


# The column-features map (a logistic regression on standardised columns) starts at zero and needs weights of order
# 1; Adam moves a weight by about lr per step, so at the head's 1e-3 a few hundred steps would not get there.
FEATURES_LR_FACTOR = 10.0


def _optimizer(model, config: TrainConfig):
    """AdamW; no weight decay on biases and LayerNorm (1-d) weights; the fresh head gets its own (higher) lr."""
    head_lr = config.head_lr or max(config.lr, 1e-3)
    groups: dict[tuple, list] = {}
    for name, p in model_parameters(model):
        if not p.requires_grad:
            continue
        lr = (head_lr if name.startswith("head.") else
              FEATURES_LR_FACTOR * head_lr if name.startswith("features_head.") else config.lr)
        key = (lr, config.weight_decay if p.dim() >= 2 else 0.0)
        groups.setdefault(key, []).append(p)
    param_groups = [{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()]
    try:
        # the fused kernel updates every tensor in one pass: 5.5x faster than the per-tensor loop on one CPU core
        # for MiniLM's 22 M parameters (17 vs 95 ms a step: ~10 s of a 125-step full fine-tune); same update rule
        return torch.optim.AdamW(param_groups, fused=True)
    except (RuntimeError, TypeError, ValueError):   # a device or dtype the fused kernel does not cover
        return torch.optim.AdamW(param_groups)


def setup(config: TrainConfig, data: PreparedDataset, prepare_pre_loss: bool = True,
          device: torch.device | None = None) -> Setup:
    from transformers import get_linear_schedule_with_warmup
    if not data.train or not data.validation:
        raise TrainingError("the dataset needs both training and validation examples")
    index = {label: i for i, label in enumerate(data.labels)}
    unknown = sorted({e.label for e in data.train + data.validation} - set(index))
    if unknown:
        raise TrainingError(f"examples carry labels outside the label set: {', '.join(unknown[:5])}")
    features = None
    if config.column_features:
        if data.kind != "tabular" or not data.feature_columns:
            raise ConfigError("column_features", True, "false for this dataset: it is text, not a table of columns")
        from engine.features import ColumnFeatures
        features = ColumnFeatures.fit([e.text for e in data.train], data.feature_columns)
    text_mode = config.resolved_tabular_text(len(data.train)) if data.kind == "tabular" else "full"
    if text_mode == "categories" and features is None and data.kind == "tabular":
        raise ConfigError("tabular_text", text_mode, "full when column_features is false (the numbers would be lost)")
    from engine.rows import plan_rows
    rows = plan_rows(config, [e.label for e in data.train], [e.label for e in data.validation])
    train_ex = [data.train[i] for i in rows.use]
    val_ex = [data.validation[i] for i in rows.validation]
    model_text = (lambda ts: features.model_texts(ts, text_mode)) if features is not None else list
    built = build(config, data.labels, features)
    device = device or resolve_device(config)
    model = built.model.to(device)
    batches = Batches(built.tokenizer, model_text([e.text for e in train_ex]), [index[e.label] for e in train_ex],
                      config.max_length, features, feature_texts=[e.text for e in train_ex])
    val = Batches(built.tokenizer, model_text([e.text for e in val_ex]), [index[e.label] for e in val_ex],
                  config.max_length, features, feature_texts=[e.text for e in val_ex])
    epochs = rows.epochs
    steps_per_epoch = math.ceil(len(batches) / config.batch_size)
    total = max(1, round(epochs * steps_per_epoch))
    evals = {min(total, e * steps_per_epoch + max(1, round(k * steps_per_epoch / config.evals_per_epoch)))
             for e in range(math.ceil(epochs)) for k in range(1, config.evals_per_epoch + 1)} | {total}
    params = [p for _, p in model_parameters(model) if p.requires_grad]
    optimizer = _optimizer(model, config)
    scheduler = get_linear_schedule_with_warmup(optimizer, round(config.warmup_ratio * total), total)
    autocast = _autocast(config, device)
    pre = PreLoss(built.pre_loss, built.tokenizer, config.seed)
    if prepare_pre_loss and config.loss_alpha > 0:
        with autocast():
            pre.prepare(model, batches, batch_size=2 * config.batch_size)   # before any update: θ₀ / frozen embeddings
    contrastive = None
    passes = con.passes(config, data.kind, len(train_ex), len(data.labels))
    if prepare_pre_loss and passes > 0:
        # runs before the probe, so the head is fitted on the embeddings the stage shaped
        contrastive = con.run(model, batches, passes, config.lr, config.seed, autocast, device, config.max_grad_norm)
    head_init, probe = config.resolved_head_init(len(train_ex), len(data.labels)), None
    if prepare_pre_loss and head_init == "probe":
        from engine.head_init import fit_probe
        share = None
        if features is None and data.kind != "tabular" and not (contrastive or {}).get("ran"):
            # the encoder read the texts as they are, at step 0 it is the untouched base: these are the embeddings
            # the report's text partner needs for the same training texts
            from engine.evaluation.embedding_partner import remember
            texts = [e.text for e in train_ex]
            share = lambda idx, emb: remember(config.base, config.pooling, config.max_length,   # noqa: E731
                                              [texts[i] for i in idx], emb)
        probe = fit_probe(model, batches, 2 * config.batch_size, forward_autocast(config.precision, device),
                          config.seed, on_embeddings=share)
    fp = {k: v for k, v in config.to_dict().items() if k not in RUNTIME_KEYS}
    fingerprint = json.dumps([fp, data.sha256, len(data.train), data.labels], sort_keys=True, default=str)
    return Setup(built, batches, val, device, autocast, params, optimizer, scheduler, pre,
                 steps_per_epoch, total, {s for s in evals if s >= 1}, max(1, total // HISTORY_STEPS), fingerprint,
                 head_init, text_mode, probe, rows, contrastive, passes)


# ---- evaluation ------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(s: Setup, batch_size: int) -> dict:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    model = s.built.model
    model.eval()
    n, k = len(s.val), len(s.built.labels)
    logits = torch.zeros((n, k))
    for idx in s.val.eval_order(batch_size):
        b = s.val.collate(idx, s.device)
        # full precision whatever training ran in: what the saved (fp32) model answers, so early stopping and the
        # best checkpoint are chosen on the scores the report reuses and the predictor serves
        logits[torch.tensor(idx)] = model(b["input_ids"], b["attention_mask"], b.get("features")).logits.float().cpu()
    y = torch.tensor(s.val.labels)
    probs = logits.softmax(-1).numpy()
    s.last_val_proba = logits.double().softmax(-1).numpy()   # float64, rows summing to 1 as the report expects
    pred = probs.argmax(1)
    out = {"accuracy": float(accuracy_score(y, pred)),
           "macro_f1": float(f1_score(y, pred, average="macro", labels=list(range(k)), zero_division=0)),
           "loss": float(torch.nn.functional.cross_entropy(logits, y))}
    try:
        out["roc_auc"] = float(roc_auc_score(y, probs[:, 1]) if k == 2 else
                               roc_auc_score(y, probs, multi_class="ovr", labels=list(range(k))))
    except ValueError:   # a class absent from validation: AUC undefined
        out["roc_auc"] = None
    return out


def evaluate_and_track(s: Setup, st: State, config: TrainConfig) -> str | None:
    """Evaluate, keep the best trainable weights, count evaluations without improvement. → 'early_stop' or None."""
    metrics = evaluate(s, 2 * config.batch_size)
    value = metrics.get(config.metric)
    value = -math.inf if value is None else value
    improved = st.best_state is None or value > st.best_value
    if improved:
        st.best_value, st.best_metrics, st.best_step, st.bad_evals = value, metrics, st.step, 0
        st.best_state = {n: p.detach().to("cpu", copy=True) for n, p in model_parameters(s.built.model)
                         if p.requires_grad}
        st.best_val_proba = s.last_val_proba
    else:
        st.bad_evals += 1
    st.last_eval_step = st.step
    msg = (f"step {st.step}: accuracy {metrics['accuracy']:.4f}, macro_f1 {metrics['macro_f1']:.4f}"
           + (" (best)" if improved else f" (no improvement {st.bad_evals}/{config.patience or '∞'})"))
    st.history.append({"kind": "eval", "step": st.step, "epoch": round(st.step / s.steps_per_epoch, 4),
                       "metrics": metrics, "message": msg, **metrics})
    return "early_stop" if config.patience and st.bad_evals >= config.patience else None


def restore_best(s: Setup, st: State) -> None:
    params = dict(model_parameters(s.built.model))
    with torch.no_grad():
        for n, v in (st.best_state or {}).items():
            params[n].copy_(v.to(params[n].device))


# ---- checkpoints -----------------------------------------------------------------------------------------
def _numpy_rng_state() -> dict:
    """np.random's MT19937 state as a tensor and plain numbers (weights_only loads refuse numpy arrays)."""
    name, key, pos, has_gauss, cached = np.random.get_state()
    return {"name": str(name), "key": torch.from_numpy(np.asarray(key, dtype=np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def _set_numpy_rng_state(st: dict) -> None:
    key = st["key"].numpy().astype(np.uint32)
    np.random.set_state((st["name"], key, st["pos"], st["has_gauss"], st["cached_gaussian"]))


def _json_default(o):
    if isinstance(o, np.generic):        # numpy scalars in metrics
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def save_checkpoint(s: Setup, st: State, checkpoint_dir, elapsed_s: float | None = None) -> None:
    """Only tensors and plain Python values go in, so `load_checkpoint` can use torch.load(weights_only=True):
    FTBOT_HOME may be shared, and a full unpickle of a file someone else could have written runs their code.
    History and metrics travel as one JSON string; RNG states as tensors and numbers."""
    d = Path(checkpoint_dir)
    d.mkdir(parents=True, exist_ok=True)
    py_version, py_internal, py_gauss = random.getstate()
    state = {
        "format": CHECKPOINT_FORMAT, "fingerprint": s.fingerprint, "step": st.step,
        "trainable": {n: p.detach().cpu() for n, p in model_parameters(s.built.model) if p.requires_grad},
        "optimizer": s.optimizer.state_dict(), "scheduler": s.scheduler.state_dict(),
        "rng": {"torch": torch.get_rng_state(), "numpy": _numpy_rng_state(),
                "python": {"version": int(py_version), "internal": torch.tensor(py_internal, dtype=torch.int64),
                           "gauss": py_gauss},
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "mask": s.pre.generator.get_state()},
        "best_state": st.best_state,
        "json": json.dumps({"best": {"value": st.best_value, "metrics": st.best_metrics, "step": st.best_step,
                                     "bad_evals": st.bad_evals, "last_eval_step": st.last_eval_step},
                            "history": st.history, "elapsed_s": st.elapsed_s + (elapsed_s or 0.0)},
                           default=_json_default),
    }
    tmp = d / (CHECKPOINT_FILE + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, d / CHECKPOINT_FILE)     # a crash mid-write never leaves a torn checkpoint


def load_checkpoint(s: Setup, st: State, checkpoint_dir) -> bool:
    path = Path(checkpoint_dir) / CHECKPOINT_FILE
    if not path.exists():
        return False
    try:
        # weights_only: tensors, containers and plain values only; never arbitrary objects from a shared folder.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:   # an old-format (pickled numpy) or foreign file: refuse it, do not execute it
        log.warning("checkpoint in %s cannot be loaded safely (%s); starting fresh", checkpoint_dir,
                    str(e).splitlines()[0] if str(e) else type(e).__name__)
        return False
    if state.get("format") != CHECKPOINT_FORMAT or state.get("fingerprint") != s.fingerprint:
        log.warning("checkpoint in %s belongs to another config or dataset; starting fresh", checkpoint_dir)
        return False
    params = dict(model_parameters(s.built.model))
    with torch.no_grad():
        for n, v in state["trainable"].items():
            params[n].copy_(v.to(params[n].device))
    s.optimizer.load_state_dict(state["optimizer"])
    s.scheduler.load_state_dict(state["scheduler"])
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    _set_numpy_rng_state(rng["numpy"])
    py = rng["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["internal"].tolist()), py["gauss"]))
    if rng.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    s.pre.generator.set_state(rng["mask"])
    rest = json.loads(state["json"])
    b = rest["best"]
    st.step, st.history, st.elapsed_s = state["step"], rest["history"], rest["elapsed_s"]
    st.best_value, st.best_metrics, st.best_step = b["value"], b["metrics"], b["step"]
    st.best_state = state["best_state"]
    st.bad_evals, st.last_eval_step = b["bad_evals"], b["last_eval_step"]
    return True


def remove_checkpoint(checkpoint_dir) -> None:
    for name in (CHECKPOINT_FILE, CHECKPOINT_FILE + ".tmp"):
        with contextlib.suppress(FileNotFoundError):
            (Path(checkpoint_dir) / name).unlink()
    with contextlib.suppress(OSError):
        Path(checkpoint_dir).rmdir()


# ---- artifact --------------------------------------------------------------------------------------------
def write_artifact(s: Setup, st: State, config: TrainConfig, data: PreparedDataset, out_dir) -> Path:
    from engine import freeze
    from engine.card import write_card
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    b = s.built
    features = b.features.describe() if b.features is not None else None
    save_trained(b, out)
    record = {**config.to_dict(), "pre_loss": b.pre_loss, "pre_loss_requested": config.pre_loss,
              "family": b.family, "pooling_used": b.pooling, "saved": saved_kind(b), "base_path": b.base_path,
              "data_sha256": data.sha256, "task_kind": data.kind, "labels": b.labels, "lora_targets": b.lora_targets,
              "num_layers": b.num_layers, "trainable_params": b.trainable_params, "total_params": b.total_params,
              "features": features,
              "head_init_used": s.head_init, "tabular_text_used": s.tabular_text, "contrastive_used": s.contrastive,
              "contrastive_epochs_used": s.contrastive_passes}
    (out / "config.json").write_text(json.dumps(record, indent=2, ensure_ascii=False))
    if s.rows is not None:   # which training rows the transformer never saw: the blend's weight is chosen on them
        (out / ROWS_FILE).write_text(json.dumps(s.rows.to_dict()))
    with open(out / "history.jsonl", "w") as f:
        for row in st.history:
            f.write(json.dumps({k: v for k, v in row.items() if k != "metrics"}) + "\n")
    stored = store_validation_proba(s, st, data, out)
    meta = {"validation_proba": stored, "base_path": b.base_path, "data_sha256": data.sha256, "pre_loss": b.pre_loss, "family": b.family,
            "frozen": freeze.describe(config), "trainable_params": b.trainable_params,
            "total_params": b.total_params, "lora_targets": b.lora_targets, "steps": st.step,
            "best_step": st.best_step, "train_examples": len(s.batches),
            "train_examples_held_out": len(s.rows.held_out) if s.rows else 0, "validation_examples": len(data.validation),
            "labels": b.labels, "features": features}
    (out / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))   # evaluation re-renders the card
    write_card(out, config, meta, st.best_metrics)
    return out


VALIDATION_PROBA_FILE = "validation_proba.npy"


def validation_fingerprint(data: PreparedDataset) -> str:
    """Which validation rows, in which order: the report reuses stored probabilities only for exactly these."""
    import hashlib
    h = hashlib.sha256()
    for e in data.validation:
        h.update(f"{e.text}\t{e.label}\n".encode("utf-8"))
    return h.hexdigest()


def store_validation_proba(s: Setup, st: State, data: PreparedDataset, out: Path) -> dict | None:
    """The best evaluation already scored every validation row with the weights being saved: keep those
    probabilities, so the report does not run the model over the validation rows a second time (10 s of a 2,000-row
    run's 70 s). Only when that evaluation read all validation rows (it always runs in full precision: `evaluate`),
    and never after a resume (not checkpointed)."""
    proba = st.best_val_proba
    if proba is None or s.rows is None or len(s.rows.validation) != len(data.validation):
        return None
    if proba.shape != (len(data.validation), len(s.built.labels)):
        return None
    np.save(out / VALIDATION_PROBA_FILE, proba.astype(np.float64))
    return {"file": VALIDATION_PROBA_FILE, "rows": len(data.validation), "step": st.best_step,
            "validation_sha256": validation_fingerprint(data)}


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
