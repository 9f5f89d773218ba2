"""ServedModel: what a run answers with — the fine-tuned transformer, its scikit-learn partner (a "baseline"), or a
blend of the two — behind one contract shared by training, evaluation and everything that uses a model.

Training writes the fine-tuned candidate's files; evaluation chooses what answers (engine/recipes/blend.py) and
saves it whole with `save`; serving, Q&A, challengers, scoring and the demo only `load` it. The transformer is loaded
on first use, so a run that serves its baseline alone never loads the encoder.

served.json records the choice: {kind, weight (of the fine-tuned model: 1 alone, 0 for the baseline), partner name
and sha256, the inputs the partner reads, labels, how it was chosen and on which rows, whether the served weights are
the validated ones}.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.errors import ModelLoadError, NotFound
from engine.jsonfiles import write_json
from engine.served import layout
from engine.served import partner as partners
from engine.served.partner import Inputs

KINDS = ("finetuned", "baseline", "blend")
NAMES = {"tabular_lr": "logistic regression", "gradient_boosting": "gradient boosting",
         "random_forest": "random forest", "tfidf_lr": "TF-IDF + logistic regression",
         "embedding_lr": "logistic regression on the pretrained encoder's embeddings", "average": "soft vote"}


class ServedModel:
    """One run's answering model. `predict_proba(texts)` gives (len(texts), len(labels)) probabilities in `labels`
    order; texts are what every path has (a table row serialized "column: value; …")."""

    def __init__(self, root: str | Path, *, kind: str = "finetuned", labels: Sequence[str] | None = None,
                 inputs: Inputs | None = None, partner=None, weight: float | None = None, record: dict | None = None,
                 transformer=None):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self.root = Path(root)
        self.kind = kind
        self.record = dict(record or {})
        self.inputs = inputs or Inputs("text")
        self.partner = partner
        self.weight = float({"finetuned": 1.0, "baseline": 0.0}.get(kind, 0.5 if weight is None else weight))
        self._transformer = transformer
        self._lock = threading.Lock()
        self._qa = None                       # (file stamp, qa.json) — see settings()
        self.labels = list(labels) if labels is not None else (
            list(transformer.labels) if transformer is not None else _read_labels(self.root))

    # ---- loading and saving ----------------------------------------------------------------------------------------
    @classmethod
    def load(cls, root: str | Path, *, transformer=None) -> "ServedModel":
        """The served model of a run folder: served.json when evaluation wrote one, else the fine-tuned model alone."""
        root = Path(root)
        if not root.is_dir():
            raise NotFound(f"No trained model at {root}.")
        rec = _read_record(root)
        if rec is None:
            return cls(root, transformer=transformer)
        kind = rec.get("kind") or rec.get("served") or "finetuned"
        rec.setdefault("blend_weight", rec.get("weight", 0.5))     # older records: "weight" is the blend's
        inputs = Inputs.from_dict(rec.get("inputs") or rec)
        partner = None
        if kind != "finetuned":      # loaded now, so a changed or untrusted file refuses at load, not mid-answer
            partner = partners.load(root, rec.get("partner_sha256"), rec.get("partner_file") or layout.PARTNER)
        return cls(root, kind=kind, labels=rec.get("labels"), inputs=inputs, partner=partner,
                   weight=rec.get("weight"), record=rec, transformer=transformer)

    def save(self, root: str | Path | None = None) -> Path:
        """Write what is served into `root` (default: where it was loaded from): the transformer's files when they
        live elsewhere (a refit's), the partner, then served.json — last, so a reader that sees the new record
        always finds its files."""
        dest = Path(root or self.root)
        dest.mkdir(parents=True, exist_ok=True)
        if dest.resolve() != self.root.resolve():
            for name in layout.TRANSFORMER_FILES:
                if (self.root / name).exists():
                    _replace(self.root / name, dest / name)
        rec = {**self.record, "kind": self.kind, "served": self.kind, "weight": self.weight, "labels": self.labels,
               "inputs": self.inputs.to_dict()}
        if self.partner is not None:
            rec.update(partner_file=layout.PARTNER, partner_sha256=partners.dump(self.partner, dest))
        write_json(dest / layout.SERVED, rec)
        self.root, self.record = dest, rec
        return dest

    # ---- the parts -------------------------------------------------------------------------------------------------
    @property
    def transformer(self):
        """The fine-tuned transformer (engine/served/transformer.py), loaded on first use."""
        if self._transformer is None:
            with self._lock:
                if self._transformer is None:
                    from engine.served.transformer import TransformerScorer
                    self._transformer = TransformerScorer.load(self.root)
        return self._transformer

    @property
    def transformer_loaded(self) -> bool:
        return self._transformer is not None

    def _partner(self):
        if self.partner is None:
            rec = self.record
            if not rec.get("partner_sha256"):
                raise NotFound(f"{self.root} has no evaluated baseline or blend to serve")
            with self._lock:
                if self.partner is None:
                    self.partner = partners.load(self.root, rec["partner_sha256"],
                                                 rec.get("partner_file") or layout.PARTNER)
        return self.partner

    # ---- prediction ------------------------------------------------------------------------------------------------
    def predict_proba(self, texts: Sequence[str], batch_size: int = 64, which: str | None = None) -> np.ndarray:
        """Class probabilities of what is served (or of one candidate: `which` = finetuned | baseline | blend)."""
        which = which or self.kind
        texts = [str(t) for t in texts]
        if which == "finetuned":
            return self.finetuned_proba(texts, batch_size)
        if not texts:
            return np.zeros((0, len(self.labels)))
        base = self.baseline_proba(texts)
        if which == "baseline":
            return base
        w = self.weight if self.kind == "blend" else float(self.record.get("blend_weight", 0.5))
        return w * self.finetuned_proba(texts, batch_size) + (1 - w) * base

    def finetuned_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self.transformer.proba(texts, batch_size)

    def baseline_proba(self, texts: Sequence[str]) -> np.ndarray:
        return partners.proba_in(self._partner(), self.inputs(texts), self.labels)

    # ---- decisions on table rows -------------------------------------------------------------------------------------
    @property
    def positive_label(self) -> str | None:
        """The label the run treats as positive — for credit, the adverse outcome."""
        return self.record.get("positive_label") or (self.settings().get("decision") or {}).get("positive_label")

    def settings(self) -> dict:
        """qa.json: the answer threshold, the answers, and for two-class runs the decision threshold. Read again
        only when the file changes: scoring asks for the decision once per chunk, an explanation several times."""
        path = self.root / layout.QA
        try:
            st = path.stat()
        except OSError:
            return {}
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._qa is None or self._qa[0] != stamp:
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                doc = {}
            self._qa = (stamp, doc)
        return self._qa[1]

    def decision(self) -> dict:
        """{positive_label, negative_label, threshold}: a row is decided positive when P(positive) ≥ threshold
        (the cost-minimising threshold the report chose)."""
        if len(self.labels) != 2:
            raise NotFound(f"run folder {self.root.name} answers {len(self.labels)} classes; a decision threshold "
                           "belongs to two-class (credit) runs")
        d = self.settings().get("decision") or {}
        pos = d.get("positive_label") or self.positive_label or self.labels[1]
        return {"positive_label": pos, "negative_label": next(lab for lab in self.labels if lab != pos),
                "threshold": float(d.get("threshold", 0.5))}

    def answer_threshold(self) -> float:
        """Below this confidence a question falls back to a human."""
        return float(self.settings().get("threshold", 0.5))

    def positive_proba(self, rows: Sequence[dict]) -> np.ndarray:
        """P(positive label) of what is served, for table rows ({column: value})."""
        from engine.data.serialize import serialize_row
        texts = [serialize_row(r, self.inputs.columns) for r in rows]
        return self.predict_proba(texts)[:, self.labels.index(self.decision()["positive_label"])]

    @property
    def reference(self):
        """The training population reasons are measured against (engine/explain/reference.py), or None."""
        if getattr(self, "_explain_ref", None) is None:
            ref = self._reference_file().get("explain")
            if ref is None:
                return None
            from engine.explain.reference import Reference
            self._explain_ref = Reference.from_dict(ref)
        return self._explain_ref

    def drift_reference(self):
        """Training-time bins of every input column and of the score (engine/monitoring/drift.py), or None."""
        ref = self._reference_file().get("drift")
        if ref is None:
            return None
        from engine.monitoring.drift import DriftReference
        return DriftReference.from_dict(ref)

    def text_reference(self) -> dict:
        """Text runs: the intent mix, fallback rate and mean confidence of the validation answers."""
        ref = self._reference_file()
        return ref if ref.get("kind") == "text" else {}

    def _reference_file(self) -> dict:
        if getattr(self, "_ref", None) is None:
            try:
                self._ref = json.loads((self.root / layout.REFERENCE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._ref = {}
        return self._ref

    def explain(self, rows: Sequence[dict], k: int = 4) -> list[list[str]]:
        """1–k principal reasons per row, strongest first (`COLUMN: plain words`), of what is served
        (engine/served/explain.py)."""
        from engine.served import explain
        return explain.reasons(self, list(rows), k)

    def explain_one(self, row: dict, k: int = 4) -> dict:
        """One applicant: probability, decision, reasons and the smallest change that flips the decision."""
        from engine.served import explain
        return explain.explain_one(self, row, k)

    def unseen_categories(self, rows: Sequence[dict]) -> dict[str, int]:
        """{column: rows holding a category the training rows never held} (scored all the same)."""
        from engine.data.values import is_missing
        ref = self._reference_file().get("explain") or {}
        known = ref.get("categories") or {}
        out: dict[str, int] = {}
        for col, values in known.items():
            n = sum(1 for r in rows if not is_missing(r.get(col)) and str(r.get(col)).strip() not in values)
            if n:
                out[col] = n
        return out

    # ---- what answers ----------------------------------------------------------------------------------------------
    def config(self) -> dict:
        """The run's training config record (config.json)."""
        try:
            return json.loads((self.root / layout.CONFIG).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def describe(self) -> dict:
        """What answers, in words and figures: the parts with their weights, how the choice was made, on which rows
        its figures were taken, and whether the weights that answer are those figures' weights."""
        rec, cfg = self.record, self.config()
        base = base_name(cfg)
        ft = {"part": "finetuned", "name": f"fine-tuned transformer ({base}, {cfg.get('method') or '?'})",
              "weight": round(self.weight, 4)}
        partner_name = rec.get("partner")
        base = {"part": "baseline", "name": _partner_words(partner_name, rec.get("partner_members")),
                "model": partner_name, "weight": round(1 - self.weight, 4)}
        parts = {"finetuned": [ft], "baseline": [base], "blend": [ft, base]}[self.kind]
        decides = max(parts, key=lambda p: p["weight"])
        refit = rec.get("refitted") or cfg.get("refitted")
        validated = not (refit and refit.get("status") == "succeeded")
        words = (" + ".join(f"{p['weight']:g} × {p['name']}" for p in parts) if self.kind == "blend"
                 else parts[0]["name"])
        out = {"kind": self.kind, "what_answers": words, "parts": parts,
               "decides": f"{decides['name']} (weight {decides['weight']:g})",
               "why": rec.get("served_why") or ("the fine-tuned model alone: no baseline was evaluated"
                                                if not rec else ""),
               "metric": rec.get("metric"), "scores": rec.get("scores"),
               "chosen_on": (f"{rec.get('validation_rows')} validation rows" if rec.get("validation_rows")
                             else "the validation rows"),
               "weight_chosen_on": rec.get("weight_chosen_on") if self.kind == "blend" else None,
               "validated": validated,
               "figures": ("held-out validation rows; the weights that answer are the ones those figures describe"
                           if validated else
                           "held-out validation rows of the first fit; the weights that answer were trained again "
                           "on train + validation afterwards and were NOT validated on held-out rows"),
               "positive_label": rec.get("positive_label")}
        if refit:
            out["refitted"] = refit
        return out


def base_name(cfg: dict) -> str:
    """The base model as documents show it: an alias or hub id as given; a server path by its folder name only."""
    base = str(cfg.get("base") or "?")
    return Path(base).name if Path(base).is_absolute() else base


def _replace(src: Path, dst: Path) -> None:
    """Copy `src` over `dst` so that `dst` is at every moment either the old or the new one, whole."""
    import os
    import shutil
    new, old = dst.with_name(f".{dst.name}.new"), dst.with_name(f".{dst.name}.old")
    for leftover in (new, old):      # of an interrupted earlier copy
        shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
    shutil.copytree(src, new) if src.is_dir() else shutil.copy2(src, new)
    if dst.exists():
        os.replace(dst, old)
    os.replace(new, dst)
    shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)


def _read_labels(root: Path) -> list[str]:
    try:
        return json.loads((root / layout.LABELS).read_text(encoding="utf-8"))["labels"]
    except (OSError, ValueError, KeyError) as err:
        raise ModelLoadError(f"{root} is not a complete run artifact: {err}") from err


def _read_record(root: Path) -> dict | None:
    for name in (layout.SERVED, layout.LEGACY_SELECTION):
        path = root / name
        if path.exists():
            return json.loads(path.read_text(encoding="utf-8"))
    return None


def _partner_words(name: str | None, members: Sequence[str] | None = None) -> str:
    if name == "average":
        inner = ", ".join(NAMES.get(m, m) for m in (members or []))
        return "soft vote of " + (inner or "the baselines")
    return NAMES.get(name or "", name or "baseline")


def was_refitted(root: str | Path) -> bool:
    """Whether the weights a run serves were trained again on its validation rows after its figures were taken."""
    try:
        rec = _read_record(Path(root)) or {}
    except (OSError, ValueError):
        return False
    return (rec.get("refitted") or {}).get("status") == "succeeded"


def fingerprint_files(root: Path) -> list[Path]:
    """The files whose change means the served model changed (the answer cache reloads on them)."""
    files = [root / layout.LABELS, root / layout.CONFIG, root / layout.SERVED, root / layout.PARTNER,
             root / layout.MODEL_DIR]
    if (root / layout.MODEL_DIR).is_dir():
        files += list((root / layout.MODEL_DIR).iterdir())
    return files
