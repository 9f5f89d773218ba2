"""What training leaves for evaluation: the fine-tuned candidate (the transformer files, config.json), its record
(meta.json, history.jsonl, rows.json), the validation probabilities of its best checkpoint, and — when the probe
head embedded the training texts with the untouched encoder — those embeddings for the report's text partner.
Evaluation reads them back here (explicitly, from the run folder: no state shared through memory)."""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from engine.config import TrainConfig
from engine.data.types import PreparedDataset
from engine.served import layout
from engine.served.transformer import save_trained, saved_kind
from engine.training.setup import Setup, State

log = logging.getLogger(__name__)


def write_candidate(s: Setup, st: State, config: TrainConfig, data: PreparedDataset, out_dir) -> Path:
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
    (out / layout.CONFIG).write_text(json.dumps(record, indent=2, ensure_ascii=False))
    if s.rows is not None:   # which training rows the transformer never saw: the blend's weight is chosen on them
        (out / layout.ROWS).write_text(json.dumps(s.rows.to_dict()))
    with open(out / layout.HISTORY, "w") as f:
        for row in st.history:
            f.write(json.dumps({k: v for k, v in row.items() if k != "metrics"}) + "\n")
    stored = store_validation_proba(s, st, data, out)
    _store_probe_embeddings(s, config, out)
    meta = {"validation_proba": stored, "base_path": b.base_path, "data_sha256": data.sha256, "pre_loss": b.pre_loss,
            "family": b.family, "frozen": freeze.describe(config), "trainable_params": b.trainable_params,
            "total_params": b.total_params, "lora_targets": b.lora_targets, "steps": st.step,
            "best_step": st.best_step, "train_examples": len(s.batches),
            "train_examples_held_out": len(s.rows.held_out) if s.rows else 0,
            "validation_examples": len(data.validation), "labels": b.labels, "features": features}
    (out / layout.META).write_text(json.dumps(meta, indent=2, ensure_ascii=False))   # evaluation re-renders the card
    write_card(out, config, meta, st.best_metrics)
    return out


# ---- validation probabilities of the best checkpoint ------------------------------------------------------------
def validation_fingerprint(data: PreparedDataset) -> str:
    """Which validation rows, in which order: the report reuses stored probabilities only for exactly these."""
    h = hashlib.sha256()
    for e in data.validation:
        h.update(f"{e.text}\t{e.label}\n".encode("utf-8"))
    return h.hexdigest()


def store_validation_proba(s: Setup, st: State, data: PreparedDataset, out: Path) -> dict | None:
    """The best evaluation already scored every validation row with the weights being saved: keep those
    probabilities, so the report does not run the model over the validation rows a second time. Only when that
    evaluation read all validation rows (it always runs in full precision), and never after a resume (not
    checkpointed)."""
    proba = st.best_val_proba
    if proba is None or s.rows is None or len(s.rows.validation) != len(data.validation):
        return None
    if proba.shape != (len(data.validation), len(s.built.labels)):
        return None
    np.save(out / layout.VALIDATION_PROBA, proba.astype(np.float64))
    return {"file": layout.VALIDATION_PROBA, "rows": len(data.validation), "step": st.best_step,
            "validation_sha256": validation_fingerprint(data)}


def stored_validation_proba(root: Path, data: PreparedDataset, n_labels: int) -> np.ndarray | None:
    """The candidate's validation probabilities stored by training, when they are of exactly these validation rows;
    else None (the report then predicts them)."""
    try:
        meta = read_meta(root)
        stored = meta.get("validation_proba") or {}
        if not stored or stored.get("rows") != len(data.validation):
            return None
        if stored.get("validation_sha256") != validation_fingerprint(data):
            return None
        proba = np.load(Path(root) / layout.VALIDATION_PROBA, allow_pickle=False)
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None
    if proba.shape != (len(data.validation), n_labels) or not np.all(np.isfinite(proba)):
        return None
    return proba


# ---- the probe's embeddings, for the report's text partner ------------------------------------------------------
def _store_probe_embeddings(s: Setup, config: TrainConfig, out: Path) -> None:
    """The probe head embedded these training texts with the untouched encoder (text read as is, no contrastive
    stage before it): the report's embedding partner needs exactly these vectors for the same texts."""
    emb = s.probe_embeddings
    if emb is None or s.rows is None:
        return
    rows, vecs = emb
    train_rows = np.asarray(s.rows.use, dtype=np.int64)[np.asarray(rows, dtype=np.int64)]
    np.savez(out / layout.PROBE_EMBEDDINGS, rows=train_rows, embeddings=np.asarray(vecs, dtype=np.float32),
             key=np.asarray([config.base, config.pooling, str(config.max_length)]))


def take_probe_embeddings(root: Path) -> dict | None:
    """{base, pooling, max_length, rows (indices into data.train), embeddings} and the file removed: it is a
    hand-over from training to the report, not part of what is served."""
    path = Path(root) / layout.PROBE_EMBEDDINGS
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            base, pooling, max_length = (str(v) for v in z["key"])
            out = {"base": base, "pooling": pooling, "max_length": int(max_length), "rows": z["rows"].tolist(),
                   "embeddings": z["embeddings"]}
    except (OSError, ValueError, KeyError) as e:
        log.warning("could not read the probe's embeddings (%s); the report embeds the texts again", e)
        out = None
    path.unlink(missing_ok=True)
    return out


# ---- the record --------------------------------------------------------------------------------------------------
def read_meta(root: Path) -> dict:
    path = Path(root) / layout.META
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def read_rows(root: Path) -> dict:
    """rows.json: which training rows the transformer used and which it never saw ({} when absent)."""
    path = Path(root) / layout.ROWS
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def read_history(root: Path) -> list[dict]:
    path = Path(root) / layout.HISTORY
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                log.warning("skipping a bad line in %s", path)
    return out
