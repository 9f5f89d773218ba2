"""The artifact layout of a run: every file name a run folder holds, written once, here.

Training writes the fine-tuned candidate (the transformer files, its config and history), evaluation writes what is
served (served.json, the partner, the reference statistics) and the report (metrics, plots, card), and everything
else only reads. A run folder is written under runs/.<id>.tmp and renamed when the run succeeds (ops/paths.py).
"""
from __future__ import annotations

from pathlib import Path

# the fine-tuned transformer (engine/served/transformer.py)
MODEL_DIR = "model"                       # PEFT adapter or full encoder, + tokenizer files
HEAD = "head.safetensors"                 # classification head (+ the column-features map)
LABELS = "label_map.json"                 # {"labels": [...]}
FEATURES = "features.json"                # tabular: the fitted column-feature encoding
CONFIG = "config.json"                    # the resolved training config + what training decided
TRANSFORMER_FILES = (MODEL_DIR, HEAD, LABELS, FEATURES)

# what answers (engine/served/model.py)
SERVED = "served.json"                    # kind (finetuned | baseline | blend), weight, partner, where figures come from
PARTNER = "partner.skops"                 # the fitted scikit-learn partner (skops: no pickle)
REFERENCE = "reference.json"              # training-row statistics: reasons, counterfactuals, drift bins
QA = "qa.json"                            # answer threshold, answers per label, fallback texts, credit decision
LEGACY_SELECTION = "selection.json"       # what older runs wrote instead of served.json (read, never written)

# training's record, read by evaluation (engine/training/candidate.py)
META = "meta.json"                        # what trained: steps, best step, frozen layers, parameter counts
HISTORY = "history.jsonl"                 # one line per logged step and evaluation
ROWS = "rows.json"                        # which training rows the transformer saw and which it never saw
VALIDATION_PROBA = "validation_proba.npy" # the best checkpoint's validation probabilities (reused by the report)
PROBE_EMBEDDINGS = "probe_embeddings.npz" # the untouched encoder's embeddings of training texts, for the report's
                                          # text partner; deleted once the report has read it

# the report (engine/evaluation/report.py)
METRICS = "metrics.json"
CARD = "README.md"                        # model card
PLOTS = "plots"                           # loss_curve.png, confusion.png, fairness_*.png

# working folders
CHECKPOINT = "state.pt"                   # resumable training state, inside the run's checkpoint folder
REFIT_DIR = ".refit"                      # a refit trains here before it replaces the served files


def plot(root: str | Path, name: str) -> Path:
    """Where the report's chart `name` (e.g. 'loss_curve') is drawn."""
    return Path(root) / PLOTS / f"{name}.png"
