"""Model card (README.md in the artifact): what was trained on what, how, and how well.

Training writes it first with validation metrics; evaluation calls `write_card` again with its report (which
includes the sklearn baseline), so the card always shows the latest numbers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.config import TrainConfig


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, int) and abs(v) >= 10000:
        return f"{v:,}"
    return str(v)


def _baseline_rows(baseline: Any) -> list[tuple[str, dict]]:
    """The report's baseline is one metrics dict or {name: metrics}; accept both."""
    if not isinstance(baseline, dict) or not baseline:
        return []
    if any(k in baseline for k in ("accuracy", "macro_f1")):
        return [(str(baseline.get("name", "baseline")), baseline)]
    return [(f"baseline: {name}", m) for name, m in baseline.items() if isinstance(m, dict)]


def write_card(artifact_dir: str | Path, config: TrainConfig | dict, meta: dict, metrics: dict | None,
               report: dict | None = None) -> Path:
    cfg = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
    method = cfg.get("method", "?")
    how = (f"LoRA (r={cfg.get('r')}, lora_alpha={cfg.get('lora_alpha')}, dropout={cfg.get('lora_dropout')}, "
           f"targets: {', '.join(meta.get('lora_targets') or []) or 'none'})" if method == "lora"
           else "full fine-tuning")
    trainable, total = meta.get("trainable_params", 0), meta.get("total_params", 0)
    lines = [
        f"# ftbot model: {Path(artifact_dir).name}", "",
        "A sequence classifier fine-tuned by ftbot (pretrained encoder + pooling + linear head).", "",
        "## Training", "",
        "| | |", "|---|---|",
        f"| base model | `{cfg.get('base')}` ({meta.get('base_path', '')}) |",
        f"| data sha256 | `{meta.get('data_sha256') or '–'}` |",
        f"| examples | {meta.get('train_examples', '–')} train / {meta.get('validation_examples', '–')} validation |",
        f"| labels | {', '.join(meta.get('labels') or []) or '–'} |",
        f"| method | {how} |",
        f"| loss | L = α·L_pre + (1−α)·L_new with α = {cfg.get('alpha')}, L_pre = {meta.get('pre_loss')} |",
        f"| frozen | {meta.get('frozen', cfg.get('freeze'))} |",
        f"| trainable parameters | {trainable:,} of {total:,} ({100 * trainable / max(total, 1):.2f}%) |",
        f"| head inputs | pooled text embedding{' + ' + meta['features'] if meta.get('features') else ''} |",
        f"| schedule | {cfg.get('epochs')} epochs, lr {cfg.get('lr')}, batch {cfg.get('batch_size')}, "
        f"max_length {cfg.get('max_length')}, seed {cfg.get('seed')} |",
        f"| steps | {meta.get('steps', '–')} (best at step {meta.get('best_step', '–')}) |",
        "",
        "## Results", "",
    ]
    rows: list[tuple[str, dict]] = []
    if metrics:
        rows.append(("this model (validation, best step)", metrics))
    if report:
        served = report.get("served", "finetuned")
        rows.append((f"served: {served} (evaluation)", report))
        if isinstance(report.get("finetuned"), dict) and served != "finetuned":
            rows.append(("fine-tuned model alone (evaluation)", report["finetuned"]))
        rows += _baseline_rows(report.get("baseline"))
    if rows:
        lines += ["| model | accuracy | macro F1 | ROC AUC |", "|---|---|---|---|"]
        lines += [f"| {name} | {_fmt(m.get('accuracy'))} | {_fmt(m.get('macro_f1'))} | {_fmt(m.get('roc_auc'))} |"
                  for name, m in rows]
    else:
        lines.append("No results yet.")
    sel = (report or {}).get("selection")
    if isinstance(sel, dict) and sel.get("scores"):
        scores = ", ".join(f"{k} {_fmt(v)}" for k, v in sel["scores"].items())
        lines += ["", f"Selection on validation ({sel.get('metric')}): {scores}; best {sel.get('best')} by "
                      f"{_fmt(sel.get('margin'))}; served {sel.get('served')} ({sel.get('served_why', '')}). "
                      f"Baseline: {sel.get('partner')}; blend weight on the fine-tuned model {_fmt(sel.get('weight'))}, "
                      f"chosen on {sel.get('weight_chosen_on')}."]
    if report and isinstance(report.get("per_class"), dict):
        lines += ["", "### Per class", "", "| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for label, m in report["per_class"].items():
            if isinstance(m, dict):
                lines.append(f"| {label} | {_fmt(m.get('precision'))} | {_fmt(m.get('recall'))} | "
                             f"{_fmt(m.get('f1', m.get('f1-score')))} | {_fmt(m.get('support'))} |")
    if report and report.get("forgetting") is not None:
        lines += ["", f"Forgetting (embedding drift from the base model): {_fmt(report.get('forgetting'))}"]
    path = Path(artifact_dir) / "README.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
