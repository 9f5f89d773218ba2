"""Training configuration: one validated dataclass, the single place where training keys are checked.

Keys are the same in CLI flags (`--lr 3e-4`) and Slack (`lr=3e-4`). A request is parsed once, at the edge, with
`TrainConfig.parse(options)`; the dataclass coerces and validates every value itself (`__post_init__`, types read
from the annotations), so a `TrainConfig(...)` built directly is checked too. Keys left out stay `None` until
`resolved(task_kind)` fills them from DEFAULTS, the one table of defaults. Every error names the key, the bad value
and what is allowed.

α is the loss-mixing weight (L = α·L_pre + (1−α)·L_new): `alpha` where people type or read it (training keys,
config records, --json), `loss_alpha` in code (the attribute and the runs column), kept apart from LoRA's
`lora_alpha` scale.
"""
from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError

METHODS = ("lora", "full")
PRE_LOSSES = ("auto", "mlm", "causal", "embedding", "l2sp")
METRICS = ("macro_f1", "accuracy", "roc_auc")
POOLINGS = ("mean", "cls")
HEAD_INITS = ("auto", "random", "probe")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "bf16", "fp32")
SERVES = ("auto", "finetuned", "blend", "baseline")
TABULAR_TEXTS = ("auto", "full", "categories")
REFITS = ("auto", "on", "off")
# refit=auto refits on train + validation when the dataset has at most this many rows: there the validation part is
# a large share of scarce examples (BANKING77 at 10 per intent gives 2 of every 10 to validation), and a second
# training costs minutes, not hours.
REFIT_MAX_ROWS = 2000

# Key names users type → dataclass attribute (only where they differ).
KEY_ALIASES = {"alpha": "loss_alpha"}

# How keys are shown: the core keys in `/ft help` and the README; the rest by recipe in `/ft help keys` and
# docs/training-keys.md. Every key is in exactly one group.
KEY_GROUPS: dict[str, tuple[str, ...]] = {
    "core": ("base", "method", "alpha", "pre_loss", "freeze", "epochs", "lr", "batch_size", "max_length", "r", "seed",
             "budget", "metric", "gpus", "serve"),
    "LoRA": ("lora_alpha", "lora_dropout", "target_modules"),
    "optimisation": ("head_lr", "patience", "warmup_ratio", "weight_decay", "l1", "l2", "max_grad_norm",
                     "label_smoothing", "dropout", "pooling", "evals_per_epoch", "group_by_length"),
    "probe head (engine/recipes/probe_head.py)": ("head_init",),
    "contrastive pre-stage (engine/recipes/contrastive.py)": ("contrastive_epochs",),
    "tables (engine/features.py, engine/recipes/row_plan.py)": ("column_features", "use_protected", "tabular_text",
                                                                "train_rows", "row_budget", "blend_holdout"),
    "refit (engine/recipes/refit.py)": ("refit",),
    "hardware": ("threads", "device", "precision"),
}
CORE_KEYS = KEY_GROUPS["core"]


def _key(help: str, **kw):
    """A training key: no default of its own (DEFAULTS holds them), a help string, optional `choices`."""
    return field(default=None, metadata={"help": help, **kw})


@dataclass
class FreezeSpec:
    """What receives no update: the embeddings and/or encoder layer indices."""

    embeddings: bool = False
    layers: tuple[int, ...] = ()

    def describe(self) -> str:
        parts = (["embeddings"] if self.embeddings else []) + ([_ranges(self.layers)] if self.layers else [])
        return ",".join(parts) or "none"

    def check_layers(self, num_layers: int) -> None:
        bad = [i for i in self.layers if i >= num_layers]
        if bad:
            raise ConfigError("freeze", self.describe(),
                              f"layer {bad[0]} does not exist; this model has layers 0-{num_layers - 1}")


def _ranges(idx: tuple[int, ...]) -> str:
    out, i = [], 0
    s = sorted(idx)
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[j] + 1:
            j += 1
        out.append(str(s[i]) if i == j else f"{s[i]}-{s[j]}")
        i = j + 1
    return ",".join(out)


def parse_freeze(value: Any) -> FreezeSpec:
    """'none' | 'embeddings' | '0-3' | 'embeddings,0-2,5' → FreezeSpec."""
    if isinstance(value, FreezeSpec):
        return value
    text = str(value).strip().lower().replace(" ", "")
    if text in ("", "none", "no", "false"):
        return FreezeSpec()
    emb, layers = False, set()
    for tok in text.replace(";", ",").split(","):
        if not tok:
            continue
        if tok in ("embeddings", "embedding", "emb"):
            emb = True
        elif re.fullmatch(r"\d+", tok):
            layers.add(int(tok))
        elif m := re.fullmatch(r"(\d+)-(\d+)", tok):
            a, b = int(m.group(1)), int(m.group(2))
            if a > b:
                raise ConfigError("freeze", value, f"range {tok} runs backwards; write it low-high, e.g. {b}-{a}")
            layers.update(range(a, b + 1))
        else:
            raise ConfigError("freeze", value,
                              "use 'none', 'embeddings', layer indices and ranges, e.g. freeze=embeddings,0-3")
    return FreezeSpec(embeddings=emb, layers=tuple(sorted(layers)))


def parse_contrastive(value: Any, key: str = "contrastive_epochs") -> float | str:
    """'auto' | a number of passes in [0, 100]."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        v = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        v = math.nan
    if not 0 <= v <= 100:      # also NaN
        raise ConfigError(key, value, "auto, or a number of passes in [0, 100] (0 = off)")
    return v


def parse_duration(value: Any, key: str = "budget") -> float | None:
    """'90s' | '10m' | '1.5h' | '600' (seconds) | 'none' → seconds or None."""
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return None if value is None or value <= 0 else float(value)
    text = str(value).strip().lower()
    if text in ("", "none", "0", "off"):
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr)?", text)
    if not m:
        raise ConfigError(key, value, "a duration such as 90s, 10m or 1.5h")
    n = float(m.group(1))
    unit = (m.group(2) or "s")[0]
    return n * {"s": 1, "m": 60, "h": 3600}[unit]


@dataclass
class TrainConfig:
    """All training keys. `parse` builds one from user keys; `resolved(task_kind)` fills the defaults."""

    base: str | None = _key("base model: alias 'minilm' (bundled all-MiniLM-L6-v2), a local folder, or a hub id")
    method: str | None = _key("'lora' (PEFT adapters + head) or 'full' (all unfrozen weights)", choices=METHODS)
    loss_alpha: float | None = _key("alpha: weight of the pretraining-objective loss, L = α·L_pre + (1−α)·L_new, "
                                    "in [0, 1]", range=(0, 1))
    pre_loss: str | None = _key("L_pre kind: auto (by model family), mlm, causal, embedding, l2sp", choices=PRE_LOSSES)
    freeze: FreezeSpec | None = _key("what gets no update: none, embeddings, layer indices/ranges, e.g. embeddings,0-2")
    epochs: float | None = _key("passes over the training data", range=(0, 1000), lo_open=True)
    lr: float | None = _key("peak learning rate", range=(0, 1), lo_open=True)
    head_lr: float | None = _key("learning rate of the freshly initialised classification head (default max(lr, 1e-3))",
                                 range=(0, 1), lo_open=True, optional=True)
    batch_size: int | None = _key("examples per optimisation step", range=(1, 4096))
    max_length: int | None = _key("tokens per text; longer texts are truncated", range=(8, 8192))
    r: int | None = _key("LoRA rank", range=(1, 1024))
    lora_alpha: float | None = _key("LoRA scale (not the loss weight alpha)", range=(0, 1e4), lo_open=True)
    lora_dropout: float | None = _key("dropout on LoRA inputs", range=(0, 1), hi_open=True)
    target_modules: str | None = _key("LoRA target modules, comma-separated, or 'auto' (attention + MLP projections)")
    seed: int | None = _key("random seed; a CPU run with the same seed repeats exactly", range=(0, 2**32 - 1))
    budget: float | None = _key("wall-clock cap, e.g. 10m; training stops and keeps the best checkpoint",
                                range=(1, 30 * 24 * 3600), optional=True, parse=lambda key, v: parse_duration(v, key))
    patience: int | None = _key("evaluations without improvement before early stop; 0 disables", range=(0, 1000))
    warmup_ratio: float | None = _key("share of steps with linear learning-rate warm-up", range=(0, 1), hi_open=True)
    weight_decay: float | None = _key("AdamW weight decay", range=(0, 10))
    l1: float | None = _key("L1 penalty on trainable weights", range=(0, 10))
    l2: float | None = _key("L2 penalty on trainable weights (in the loss, unlike weight_decay)", range=(0, 10))
    max_grad_norm: float | None = _key("gradient clipping norm; 0 disables", range=(0, 1e6))
    label_smoothing: float | None = _key("label smoothing of the task loss, in [0, 1)", range=(0, 1), hi_open=True)
    dropout: float | None = _key("dropout inside the encoder and before the head during training; default: the "
                                 "model's own rate (0.1 for MiniLM)", range=(0, 1), hi_open=True, optional=True)
    pooling: str | None = _key("sentence pooling for the head: mean or cls", choices=POOLINGS)
    head_init: str | None = _key("how the head starts: random; probe (a logistic regression on the pretrained "
                                 "embeddings, fitted before the first step); auto = probe when the training data has "
                                 "at most 50 examples per label on average, else random", choices=HEAD_INITS)
    contrastive_epochs: float | str | None = _key(
        "text data: passes of a contrastive pre-stage before the head is fitted (each text paired with another of "
        "its label against the other labels' texts in the batch, engine/recipes/contrastive.py); 0 = off; auto = 2 "
        "when the training data has at most 16 examples per label on average, else 0",
        parse=lambda key, v: parse_contrastive(v, key))
    column_features: bool | None = _key("tabular data: the head also reads the raw columns (numbers standardised, "
                                        "categories one-hot) beside the text embedding")
    tabular_text: str | None = _key("tabular data: what the encoder reads of a row; full (every column as "
                                    "'column: value') or categories (only the non-numeric columns: the numbers reach "
                                    "the head as column features; ~3x fewer tokens); auto = categories when the table "
                                    "has more training rows than train_rows (speed matters), else full",
                                    choices=TABULAR_TEXTS)
    use_protected: bool | None = _key("tabular data: the protected attributes (dataset add --protected) are model "
                                      "inputs too; off by default — they stay out of the model and serve only the "
                                      "fairness report; turning it on is recorded on the model card")
    train_rows: int | None = _key("at most this many training rows go to the transformer (a stratified, seeded "
                                  "subset fixed for the run; the rest are held out for the blend); 0 = all",
                                  range=(0, 10**9))
    row_budget: int | None = _key("at most this many training rows seen by the transformer over the whole run "
                                  "(epochs are cut to fit); 0 = no cap", range=(0, 10**12))
    blend_holdout: float | None = _key("share of training rows kept from the transformer to choose the blend "
                                       "weight on (never validation rows); 0 = none: the blend then weights "
                                       "fine-tuned model and baseline equally", range=(0, 0.9))
    serve: str | None = _key("what answers after evaluation: auto (the best on validation of fine-tuned model, "
                             "baseline and blend), finetuned, blend or baseline", choices=SERVES)
    refit: str | None = _key("after evaluation and model selection, train again on train + validation rows for "
                             "the best checkpoint's number of epochs and serve that model (its partner refitted "
                             "too); the reported figures stay those of the first fit, and the served weights are "
                             f"marked as not validated. auto = on for text datasets of at most {REFIT_MAX_ROWS:,} "
                             "rows, off for tables", choices=REFITS)
    metric: str | None = _key("validation metric for early stopping and the best checkpoint", choices=METRICS)
    evals_per_epoch: int | None = _key("validation evaluations per epoch", range=(1, 100))
    group_by_length: bool | None = _key("batch texts of similar length together (less padding)")
    threads: int | None = _key("CPU threads for torch; 0 = all cores", range=(0, 1024))
    device: str | None = _key("auto, cpu or cuda", choices=DEVICES)
    gpus: int | None = _key("GPUs for this one run (data parallel through torchrun; batch_size stays the global batch)",
                            range=(1, 64))
    precision: str | None = _key("auto (bf16 training where the device does bf16 natively: CUDA, CPUs with "
                                 "AVX512-BF16 or AMX; fp32 elsewhere), bf16 or fp32; evaluation always runs in fp32",
                                 choices=PRECISIONS)

    def __post_init__(self) -> None:
        """Coerce every given value to its annotated type and check it; `None` means "not given"."""
        types = _field_types()
        for f in dataclasses.fields(self):
            raw = getattr(self, f.name)
            if raw is None:
                continue
            key = user_key(f.name)
            value = _coerce(key, f, types[f.name], raw)
            _check(key, f, value)
            object.__setattr__(self, f.name, value)
        if isinstance(self.base, str) and not self.base.strip():
            raise ConfigError("base", self.base, "a model alias such as 'minilm', a local folder or a hub id")

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def keys(cls) -> list[str]:
        return [user_key(f.name) for f in dataclasses.fields(cls)]

    @classmethod
    def help_text(cls, task_kind: str | None = None) -> dict[str, str]:
        """{key: help} with the defaults from DEFAULTS (per task kind and method where they differ)."""
        return {user_key(f.name): f.metadata["help"] + _default_note(f.name, task_kind) for f in dataclasses.fields(cls)}

    @classmethod
    def parse(cls, options: dict[str, Any] | None = None) -> "TrainConfig":
        """User keys (strings or typed values) → a validated config; unknown keys and bad values raise ConfigError.
        Keys not given stay None (the defaults depend on the dataset's kind: see `resolved`)."""
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in dict(options or {}).items():
            if raw is None:
                continue
            attr = KEY_ALIASES.get(key, key)
            if attr not in names:
                raise ConfigError(key, raw, "unknown key; known keys: " + ", ".join(cls.keys()))
            values[attr] = raw
        return cls(**values)

    @classmethod
    def field_errors(cls, options: dict[str, Any]) -> dict[str, ConfigError]:
        """Every bad key at once ({key: error}), for forms that show one message per field."""
        errors = {}
        for key, raw in options.items():
            try:
                cls.parse({key: raw})
            except ConfigError as e:
                errors[key] = e
        return errors

    @classmethod
    def from_options(cls, options: dict[str, Any] | None = None, task_kind: str = "text") -> "TrainConfig":
        """parse + resolved: a complete config for a dataset of `task_kind`."""
        return cls.parse(options).resolved(task_kind)

    def resolved(self, task_kind: str) -> "TrainConfig":
        """A copy with every key not given filled from DEFAULTS for this task kind and method."""
        method = self.method or DEFAULTS["*"]["method"]
        table = defaults_for(task_kind, method)
        filled = {f.name: table.get(f.name) if getattr(self, f.name) is None else getattr(self, f.name)
                  for f in dataclasses.fields(self)}
        missing = [user_key(n) for n, v in filled.items() if v is None and not _optional(n)]
        if missing:   # a DEFAULTS row lost a key: a bug here, not a user error
            raise ValueError(f"DEFAULTS gives no value for {', '.join(missing)}")
        return dataclasses.replace(self, **filled)

    def given(self) -> dict[str, Any]:
        """The keys that were set (user key names), e.g. to show what a request asked for."""
        return {k: v for k, v in self.to_dict().items() if v is not None}

    def resolved_tabular_text(self, train_examples: int) -> str:
        """'auto' → 'categories' when the table is larger than the transformer's row cap (`train_rows`), else 'full'."""
        mode = self.tabular_text or "full"
        if mode != "auto":
            return mode
        return "categories" if self.train_rows and train_examples > self.train_rows else "full"

    def resolved_refit(self, rows: int, task_kind: str = "text") -> bool:
        """'auto' → refit text datasets (train + validation) of at most REFIT_MAX_ROWS rows; tables keep the model
        whose held-out figures the report shows (engine/recipes/refit.py)."""
        mode = self.refit or "off"
        return mode == "on" or (mode == "auto" and task_kind != "tabular" and rows <= REFIT_MAX_ROWS)

    def resolved_contrastive(self, train_examples: int, num_labels: int, task_kind: str = "text") -> float:
        """'auto' → CONTRASTIVE_AUTO_EPOCHS on text with ≤ CONTRASTIVE_MAX_PER_LABEL examples per label on average,
        else 0 (tables: always 0)."""
        value = self.contrastive_epochs if self.contrastive_epochs is not None else 0.0
        if value != "auto":
            return float(value)
        scarce = train_examples <= CONTRASTIVE_MAX_PER_LABEL * max(num_labels, 1)
        return CONTRASTIVE_AUTO_EPOCHS if task_kind != "tabular" and scarce else 0.0

    def resolved_head_init(self, train_examples: int, num_labels: int) -> str:
        """'auto' → 'probe' when the training data is scarce (≤ PROBE_MAX_PER_LABEL per label on average)."""
        if self.head_init != "auto":
            return self.head_init
        return "probe" if train_examples <= PROBE_MAX_PER_LABEL * max(num_labels, 1) else "random"

    def frozen_description(self) -> str:
        """What receives no update, in words (plans, model cards)."""
        if self.method == "lora":
            layers = FreezeSpec(layers=self.freeze.layers).describe()
            extra = f"; layers {layers} have no adapters" if self.freeze.layers else ""
            return "all base weights (LoRA adapters + head train)" + extra
        return self.freeze.describe()

    # ---- records ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record with user-facing key names (alpha, freeze as text)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[user_key(f.name)] = v.describe() if isinstance(v, FreezeSpec) else v
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """A stored record (runs.config, artifact config.json) back into a config. Records are complete, so nothing
        is filled; extra resolved keys of the artifact (family, labels, …) are ignored."""
        known = set(cls.keys())
        return cls.parse({k: v for k, v in d.items() if v is not None and k in known})


# The one table of defaults. Rows apply in order "*" < method < task kind < "kind/method"; users' keys override all.
# Why each row differs from "*" (the measurements are in docs/benchmarks.md, "How the defaults were chosen"):
# - lora_dropout 0: PEFT then skips the dropout copy of every adapted input (faster, no loss of accuracy).
# - text epochs 15 with early stopping: short runs stopped before few-shot intents had converged.
# - text head_init / contrastive_epochs auto: a probe head and a contrastive pre-stage where examples are scarce.
# - tables: the head also reads the raw columns (column_features); the transformer sees a capped, stratified subset
#   of a large table and never the held-out rows that choose the blend weight (train_rows, row_budget,
#   blend_holdout); checkpoints are chosen by ROC AUC, as the cost threshold ranks applicants.
# - refit auto: small text datasets train again on train + validation once the model is chosen; tables keep the
#   validated model.
PROBE_MAX_PER_LABEL = 50
CONTRASTIVE_MAX_PER_LABEL = 16
CONTRASTIVE_AUTO_EPOCHS = 2.0
DEFAULTS: dict[str, dict[str, Any]] = {
    "*": {"base": "minilm", "method": "lora", "loss_alpha": 0.0, "pre_loss": "auto", "freeze": FreezeSpec(),
          "epochs": 5.0, "head_lr": None, "batch_size": 16, "max_length": 128, "r": 16, "lora_alpha": 32.0,
          "lora_dropout": 0.0, "target_modules": "auto", "seed": 42, "budget": None, "patience": 3,
          "warmup_ratio": 0.06, "weight_decay": 0.01, "l1": 0.0, "l2": 0.0, "max_grad_norm": 1.0,
          "label_smoothing": 0.0, "dropout": None, "pooling": "mean", "head_init": "random",
          "contrastive_epochs": 0.0,
          "column_features": False, "use_protected": False, "tabular_text": "full", "train_rows": 0, "row_budget": 0,
          "blend_holdout": 0.0, "serve": "auto", "refit": "auto", "metric": "macro_f1", "evals_per_epoch": 1, "group_by_length": True,
          "threads": 0, "device": "auto", "gpus": 1, "precision": "auto"},
    "lora": {"lr": 1e-3},
    "full": {"lr": 1e-4},
    "text": {"epochs": 15.0, "head_init": "auto", "contrastive_epochs": "auto"},
    "tabular": {"column_features": True, "tabular_text": "auto", "train_rows": 2000, "row_budget": 4000,
                "blend_holdout": 0.2, "metric": "roc_auc"},
    "tabular/lora": {"epochs": 8.0},
    "tabular/full": {"epochs": 6.0},
}


def defaults_for(task_kind: str | None, method: str) -> dict[str, Any]:
    """The defaults that apply to a dataset of `task_kind` trained with `method` (attribute names)."""
    out = dict(DEFAULTS["*"])
    for row in (method, task_kind, f"{task_kind}/{method}"):
        out.update(DEFAULTS.get(row or "", {}))
    return out


def user_key(attr: str) -> str:
    return _REVERSE_ALIASES.get(attr, attr)


_REVERSE_ALIASES = {v: k for k, v in KEY_ALIASES.items()}


def _optional(name: str) -> bool:
    return bool(next(f for f in dataclasses.fields(TrainConfig) if f.name == name).metadata.get("optional"))


def _default_note(name: str, task_kind: str | None) -> str:
    kinds = [task_kind] if task_kind else ["text", "tabular"]
    seen = {}
    for kind in kinds:
        for method in METHODS:
            v = defaults_for(kind, method).get(name)
            seen.setdefault(_show(v), []).append(f"{kind}/{method}")
    if len(seen) == 1:
        value = next(iter(seen))
        return "" if value == "none" else f" (default {value})"
    return " (default " + "; ".join(f"{v} for {', '.join(w)}" for v, w in seen.items()) + ")"


def _show(v) -> str:
    if v is None:
        return "none"
    if isinstance(v, FreezeSpec):
        return v.describe()
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


_TYPES: dict[str, type] = {}


def _field_types() -> dict[str, type]:
    """{attribute: the non-None type of its annotation} — read once from the dataclass annotations."""
    if not _TYPES:
        for name, hint in typing.get_type_hints(TrainConfig).items():
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            _TYPES[name] = args[0] if args else hint
    return _TYPES


def _coerce(key: str, f: dataclasses.Field, kind: type, raw: Any) -> Any:
    if f.metadata.get("parse"):
        return f.metadata["parse"](key, raw)
    if kind is FreezeSpec:
        return parse_freeze(raw)
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            t = str(raw).strip().lower()
            if t in ("1", "true", "yes", "on"):
                return True
            if t in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            if isinstance(raw, bool) or isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            return int(str(raw).strip()) if not isinstance(raw, (int, float)) else int(raw)
        if kind is float:
            v = float(str(raw).strip()) if not isinstance(raw, (int, float)) or isinstance(raw, bool) else float(raw)
            if isinstance(raw, bool) or v != v or v in (float("inf"), float("-inf")):
                raise ValueError
            return v
        text = str(raw).strip()
        return text.lower() if f.metadata.get("choices") else text
    except (TypeError, ValueError):
        what = {int: "a whole number", float: "a number", bool: "true or false"}.get(kind, "text")
        raise ConfigError(key, raw, what + (f" ({f.metadata['help']})" if f.metadata.get("help") else "")) from None


def _check(key: str, f: dataclasses.Field, v: Any) -> None:
    choices = f.metadata.get("choices")
    if choices and v not in choices:
        raise ConfigError(key, v, "one of " + ", ".join(choices))
    if "range" in f.metadata and v is not None:
        lo, hi = f.metadata["range"]
        lo_open, hi_open = f.metadata.get("lo_open", False), f.metadata.get("hi_open", False)
        ok = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
        if not ok:
            raise ConfigError(key, v, f"a number in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}")
