"""Model card (README.md in the artifact): what answers and with what weight, what was trained on what and how, how
well on held-out rows beside the baselines of the same run, by group, and how stable.

Training writes it first with its own validation figures; evaluation writes it again with the report (metrics.json,
served.json), so the card always shows the latest numbers. The validation report (`ftbot report`, ops/reporting.py)
is built on the same sections. No server path appears: the base model is named by the alias or id the user gave.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from engine.config import TrainConfig
from engine.served import layout
from engine.served.model import base_name


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, int) and abs(v) >= 10000:
        return f"{v:,}"
    return str(v)


def _interval(iv) -> str:
    return f" ({_fmt(iv[0])}–{_fmt(iv[1])})" if isinstance(iv, (list, tuple)) and len(iv) == 2 else ""


def title(artifact_dir: str | Path) -> str:
    """'run #7' from the run folder (runs/7, or runs/.7.tmp while it is written), else the folder name."""
    name = Path(artifact_dir).name
    m = re.fullmatch(r"\.?(\d+)(?:\.tmp)?", name)
    return f"run #{m.group(1)}" if m else name


def _baseline_rows(baseline: Any) -> list[tuple[str, dict]]:
    """The report's baseline is one metrics dict or {name: metrics}; accept both."""
    if not isinstance(baseline, dict) or not baseline:
        return []
    if any(k in baseline for k in ("accuracy", "macro_f1")):
        return [(str(baseline.get("name", "baseline")), baseline)]
    return [(f"baseline: {name}", m) for name, m in baseline.items() if isinstance(m, dict)]


def what_answers(served: dict | None) -> list[str]:
    """The card's first section: which model makes the decisions, and with what weight."""
    if not served:
        return ["## What answers", "", "The fine-tuned model alone (not evaluated yet).", ""]
    lines = ["## What answers", "", f"**{served['what_answers']}** — decided mostly by {served['decides']}.", ""]
    if served.get("why"):
        lines += [f"Chosen because: {served['why']}."]
    if served.get("weight_chosen_on"):
        lines += [f"Blend weight chosen on {served['weight_chosen_on']}."]
    lines += [f"Figures: {served['figures']}." if served.get("figures") else "", ""]
    if not served.get("validated", True):
        lines += ["> **The weights that answer were not validated on held-out rows**: they were trained again on "
                  "train + validation after the figures below were taken (refit).", ""]
    return lines


def training_rows(cfg: dict, meta: dict) -> list[str]:
    method = cfg.get("method", "?")
    how = (f"LoRA (r={cfg.get('r')}, lora_alpha={cfg.get('lora_alpha')}, dropout={cfg.get('lora_dropout')}, "
           f"targets: {', '.join(meta.get('lora_targets') or []) or 'none'})" if method == "lora"
           else "full fine-tuning")
    trainable, total = meta.get("trainable_params", 0) or 0, meta.get("total_params", 0) or 0
    recipes = [f"head: {cfg.get('head_init_used') or cfg.get('head_init')}",
               f"contrastive pre-stage: {'yes' if (cfg.get('contrastive_used') or {}).get('ran') else 'no'}"]
    if cfg.get("tabular_text_used"):
        recipes.append(f"encoder reads: {cfg['tabular_text_used']} text of a row")
    if cfg.get("use_protected"):
        recipes.append("PROTECTED ATTRIBUTES ARE MODEL INPUTS (use_protected=yes)")
    return [
        "## Training", "",
        "| | |", "|---|---|",
        f"| base model | `{base_name(cfg)}` |",
        f"| data sha256 | `{meta.get('data_sha256') or '–'}` |",
        f"| examples | {meta.get('train_examples', '–')} train / {meta.get('validation_examples', '–')} validation |",
        f"| labels | {', '.join(meta.get('labels') or []) or '–'} |",
        f"| method | {how} |",
        f"| loss | L = α·L_pre + (1−α)·L_new with α = {cfg.get('alpha')}, L_pre = {meta.get('pre_loss')} |",
        f"| frozen | {meta.get('frozen', cfg.get('freeze'))} |",
        f"| trainable parameters | {trainable:,} of {total:,} ({100 * trainable / max(total, 1):.2f}%) |",
        f"| head inputs | pooled text embedding{' + ' + meta['features'] if meta.get('features') else ''} |",
        f"| recipes | {'; '.join(recipes)} |",
        f"| schedule | {cfg.get('epochs')} epochs, lr {cfg.get('lr')}, batch {cfg.get('batch_size')}, "
        f"max_length {cfg.get('max_length')}, seed {cfg.get('seed')} |",
        f"| steps | {meta.get('steps', '–')} (best at step {meta.get('best_step', '–')}) |",
        ""]


def result_rows(metrics: dict | None, report: dict | None) -> list[str]:
    lines = ["## Results on held-out validation rows", ""]
    rows: list[tuple[str, dict]] = []
    if report:
        served = report.get("served", "finetuned")
        rows.append((f"served: {served}", report))
        if isinstance(report.get("finetuned"), dict) and served != "finetuned":
            rows.append(("fine-tuned model alone", report["finetuned"]))
        rows += _baseline_rows(report.get("baseline"))
    elif metrics:
        rows.append(("this model (validation, best step)", metrics))
    if not rows:
        return lines + ["No results yet.", ""]
    iv = (report or {}).get("intervals") or {}
    lines += ["| model | accuracy | macro F1 | ROC AUC | expected cost |", "|---|---|---|---|---|"]
    for i, (name, m) in enumerate(rows):
        first = i == 0 and bool(report)
        lines.append(f"| {name} | {_fmt(m.get('accuracy'))}{_interval(iv.get('accuracy')) if first else ''} | "
                     f"{_fmt(m.get('macro_f1'))} | {_fmt(m.get('roc_auc'))}"
                     f"{_interval(iv.get('roc_auc')) if first else ''} | {_fmt(m.get('expected_cost'))}"
                     f"{_interval(iv.get('expected_cost')) if first else ''} |")
    if iv:
        lines += ["", f"Intervals: 95 % bootstrap over the {iv.get('rows', '–')} validation rows."]
    if report and report.get("threshold") is not None:
        lines += ["", f"Decision: P({report.get('positive_label')}) ≥ {report['threshold']:.4f} (the threshold with "
                      f"the lowest expected cost, chosen on {_threshold_rows(report)})."]
    lines.append("")
    return lines


def _threshold_rows(report: dict) -> str:
    on = (report.get("binary") or {}).get("threshold_chosen_on") or {}
    if on:
        return f"{on.get('validation_rows')} validation and {on.get('training_rows')} honestly scored training rows"
    return "the validation rows"


def fairness_rows(report: dict | None) -> list[str]:
    fair = (report or {}).get("fairness") or {}
    if not fair:
        return []
    lines = ["## Fairness by protected attribute", ""]
    for name, f in fair.items():
        air, eod = f.get("adverse_impact_ratio"), f.get("equal_opportunity_difference")
        lines += [f"**{name}** — adverse impact ratio {_fmt(air)}{_interval(f.get('air_interval'))}, equal "
                  f"opportunity difference {_fmt(eod)}{_interval(f.get('eod_interval'))}"
                  f"{' — **flagged**' if f.get('flagged') else ''}. {f.get('note', '')}", "",
                  "| group | n | approval rate | TPR | FPR |", "|---|---|---|---|---|"]
        for g, m in (f.get("groups") or {}).items():
            lines.append(f"| {g} | {m.get('n')} | {_fmt(m.get('approval_rate'))} | {_fmt(m.get('tpr'))} | "
                         f"{_fmt(m.get('fpr'))} |")
        lines.append("")
    return lines


def stability_rows(report: dict | None) -> list[str]:
    st = (report or {}).get("stability") or {}
    if not st:
        return []
    moved = [f"{c} {v:.3f}" for c, v in (st.get("columns") or {}).items() if v >= 0.10]
    return ["## Stability", "",
            f"Score PSI, training rows vs validation rows: {_fmt(st.get('score_psi'))} ({st.get('score_band')}); "
            + (f"columns at 0.10 or more: {', '.join(moved)}" if moved else "every input column below 0.10")
            + (f". Caution: {st['caution']}" if st.get("caution") else "") + ".", ""]


def card_markdown(artifact_dir: str | Path, config: TrainConfig | dict, meta: dict, metrics: dict | None,
                  report: dict | None = None, served: dict | None = None) -> str:
    cfg = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
    head = [f"# ftbot model: {title(artifact_dir)}", "",
            "A sequence classifier fine-tuned by ftbot (pretrained encoder + pooling + linear head), with the "
            "scikit-learn baselines of the same run.", ""]
    lines = (head + what_answers(served) + training_rows(cfg, meta) + result_rows(metrics, report)
             + fairness_rows(report) + stability_rows(report))
    if report and isinstance(report.get("per_class"), dict):
        lines += ["### Per class", "", "| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for label, m in report["per_class"].items():
            if isinstance(m, dict):
                lines.append(f"| {label} | {_fmt(m.get('precision'))} | {_fmt(m.get('recall'))} | "
                             f"{_fmt(m.get('f1', m.get('f1-score')))} | {_fmt(m.get('support'))} |")
        lines.append("")
    if report and isinstance(report.get("forgetting"), dict) and report["forgetting"].get("drift") is not None:
        lines += [f"Forgetting (1 − cosine of the tuned encoder's embeddings to the base model's): "
                  f"{_fmt(report['forgetting']['drift'])}", ""]
    return "\n".join(lines) + "\n"


def write_card(artifact_dir: str | Path, config: TrainConfig | dict, meta: dict, metrics: dict | None,
               report: dict | None = None) -> Path:
    root = Path(artifact_dir)
    served = None
    if report is not None:
        served = report.get("served_model")
        if served is None and (root / layout.SERVED).exists():
            from engine.served.model import ServedModel
            served = ServedModel.load(root).describe()
    path = root / layout.CARD
    path.write_text(card_markdown(root, config, meta, metrics, report, served), encoding="utf-8")
    return path
