"""The validation report a model-risk team signs: one Markdown document, readable without the tool — intended use
and limits; data lineage; method; performance on held-out rows with intervals beside the baselines of the same
run; fairness by protected attribute; stability; the monitoring plan; the approval history (four eyes); how to
reproduce the run. It is built on the run's model card (engine/card.py), the artifact's records and the audit
trail in the database (references: PRA SS1/23, EBA GL/2020/06 §4.3, SR 26-2, Mitchell et al.'s model cards)."""
from __future__ import annotations

import datetime as _dt
import json
import platform
from importlib import metadata
from pathlib import Path

from engine.errors import NotFound
from storage import approvals, connect, scorings
from storage import datasets as datasets_table
from storage import runs as runs_table
from storage.errors import Conflict

from ops import policy, schedules
from ops.access import Actor

PACKAGES = ("ftbot", "torch", "transformers", "peft", "scikit-learn", "shap", "fairlearn", "numpy")


def report(home, run_id, *, out=None, actor: Actor | str | None = None) -> dict:
    """Write the validation report of a run to `out` (default ./report-run-N.md). → {run_id, out_path, title,
    warnings}."""
    from engine import card
    from engine.data.store import protected_names
    from engine.served import layout
    from engine.served.model import ServedModel
    from storage import deployments as deployments_table
    with connect(home) as db:
        run = runs_table.get(db, run_id)
        if run["status"] != "succeeded" or not run.get("artifact_path"):
            raise Conflict(f"run #{run['id']} is {run['status']}; a report needs a finished, evaluated run")
        ds = datasets_table.get(db, run["dataset"])
        requests, deployed = approvals.for_run(db, run["id"])
        scored = scorings.latest(db, run["id"])
        scopes = {d["scope"] for d in deployments_table.list_active(db) if int(d["run_id"]) == int(run["id"])}
    root = Path(run["artifact_path"])
    if not (root / layout.METRICS).exists():
        raise NotFound(f"run #{run['id']} has no evaluation report yet (metrics.json); evaluate it first")
    rep = json.loads((root / layout.METRICS).read_text(encoding="utf-8"))
    cfg = json.loads((root / layout.CONFIG).read_text(encoding="utf-8"))
    meta = json.loads((root / layout.META).read_text(encoding="utf-8")) if (root / layout.META).exists() else {}
    served = ServedModel.load(root)
    described = served.describe()
    warnings = _warnings(rep, described, ds)
    kind = ds["kind"]
    protected = protected_names(ds["path"]) if ds.get("path") else []     # the stored dataset's meta.json
    lines = [f"# Validation report — run #{run['id']} ({run['dataset']})", "",
             f"Generated {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} by ftbot "
             f"{_version('ftbot')}. Run requested by {run.get('requester')} at {str(run.get('created_at'))[:19]}; "
             f"finished {str(run.get('finished_at'))[:19]}.", ""]
    if warnings:
        lines += ["**Warnings**", ""] + [f"- {w}" for w in warnings] + [""]
    lines += _intended_use(kind, ds, cfg, rep)
    lines += card.what_answers(described)
    lines += _lineage(ds, meta, protected)
    lines += _method(cfg, meta, rep)
    lines += card.training_rows(cfg, meta)
    lines += card.result_rows(None, rep)
    lines += card.fairness_rows(rep) or (["## Fairness by protected attribute", "",
                                          "No protected attributes were named for this dataset "
                                          "(`dataset add NAME FILE --protected ...`).", ""] if kind == "tabular"
                                         else [])
    lines += card.stability_rows(rep)
    lines += _monitoring(home, scopes, scored, kind)
    lines += _approvals(home, requests, deployed)
    lines += _reproduce(ds, cfg, protected)
    out = Path(out) if out else Path.cwd() / f"report-run-{run['id']}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(out)
    return {"run_id": run["id"], "out_path": str(out), "title": lines[0][2:], "warnings": warnings,
            "what_answers": described.get("what_answers")}


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _warnings(rep: dict, described: dict, ds: dict) -> list[str]:
    out = []
    if not described.get("validated", True):
        out.append("the weights that answer were trained again on train + validation after the figures were taken "
                   "(refit): they were not validated on held-out rows")
    for name, f in (rep.get("fairness") or {}).items():
        if f.get("flagged"):
            out.append(f"fairness: the adverse impact ratio for {name} is {f['adverse_impact_ratio']:.2f}, below 0.8 "
                       "with an interval that does not reach 0.8")
    st = rep.get("stability") or {}
    if st.get("flagged"):
        out.append(f"stability: training and validation rows differ beyond PSI 0.25 in {', '.join(st['flagged'])}")
    iv = rep.get("intervals") or {}
    if iv.get("rows") and iv["rows"] < 200:
        out.append(f"only {iv['rows']} validation rows: the intervals below are wide")
    if not ds.get("redacted") and (ds.get("pii") or {}).get("counts"):
        out.append("the dataset holds personal data that was not redacted")
    return out


def _intended_use(kind: str, ds: dict, cfg: dict, rep: dict) -> list[str]:
    """`cfg`: the run's config.json, as report() read it."""
    if kind == "tabular":
        pos = rep.get("positive_label")
        use = (f"Decide applications like those of `{ds['name']}`: the probability of `{pos}` for each applicant, "
               f"declined at P ≥ {rep.get('threshold', 0):.4f}, each declined applicant given 1–4 principal reasons "
               "(`ftbot score`). A person reviews adverse decisions.")
        limits = ["Only for a population like the training rows: watch the stability figures (`ftbot drift`).",
                  "Protected attributes are " + ("model inputs (use_protected=yes)."
                                                 if cfg.get("use_protected") else
                                                 "kept out of the model; they are used only for the fairness "
                                                 "report.")]
    else:
        use = (f"Answer customer-service questions with the answers registered for the {len(ds.get('labels') or [])} "
               "intents; below the confidence threshold the question goes to a person.")
        limits = ["Questions unlike the training texts get low confidence and fall back to a person; watch the "
                  "intent mix (`/ft drift here`)."]
    return ["## Intended use and limits", "", use, ""] + [f"- {x}" for x in limits] + [""]


def _lineage(ds: dict, meta: dict, prot: list[str]) -> list[str]:
    split = ds.get("split") or {}
    pii = (ds.get("pii") or {}).get("counts") or {}
    return ["## Data lineage", "", "| | |", "|---|---|",
            f"| dataset | `{ds['name']}` ({ds['kind']}, {ds['format']}), registered {str(ds['created_at'])[:19]} by "
            f"{ds.get('created_by')} |",
            f"| source | {Path(str(ds.get('source') or '')).name or '–'} |",
            f"| sha256 of the stored copy | `{ds['sha256']}` |",
            f"| rows | {ds['rows']:,}; labels: " + ", ".join(f"{k} {v:,}" for k, v in (ds.get('label_counts') or
                                                                                     {}).items()) + " |",
            f"| split | {split.get('train')} train / {split.get('validation')} validation"
            + (f", from the column {split['from_column']}" if split.get("from_column") else
               f", stratified, seed {split.get('seed')}, validation share {split.get('fraction')}") + " |",
            f"| personal data | {', '.join(f'{k} ×{v}' for k, v in pii.items()) or 'none found'}; "
            f"{'redacted' if ds.get('redacted') else 'not redacted'} |",
            f"| protected attributes | {', '.join(prot) or 'none named'} |",
            f"| training data seen by the model | sha256 `{meta.get('data_sha256') or '–'}` |", ""]


def _method(cfg: dict, meta: dict, rep: dict) -> list[str]:
    sel = rep.get("selection") or {}
    lines = ["## Method", "",
             f"Fine-tuned `{cfg.get('base')}` with {cfg.get('method')} (α = {cfg.get('alpha')}: "
             f"L = α·L_pre + (1−α)·L_new, L_pre = {meta.get('pre_loss') or cfg.get('pre_loss')}; frozen: "
             f"{meta.get('frozen')}). Beside it, scikit-learn models on the same training rows; the served model is "
             "chosen among the fine-tuned model, the best baseline (partner) and their blend, on the validation "
             "rows only.", ""]
    if sel.get("scores"):
        lines += [f"Validation {sel.get('metric')}: " + ", ".join(f"{k} {v:.4f}" for k, v in sel["scores"].items())
                  + f"; partner `{sel.get('partner')}` ({sel.get('partner_chosen_on')}); blend weight on the "
                  f"fine-tuned model {sel.get('weight')} ({sel.get('weight_chosen_on')}).", ""]
    return lines


def _monitoring(home, scopes: set, scored: dict | None, kind: str) -> list[str]:
    """`scopes`: where the run answers now (its active deployments)."""
    plans = [s for s in schedules.list_schedules(home) if s["kind"] in ("drift", "reeval") and s["target"] in scopes]
    lines = ["## Monitoring plan", "",
             "Population stability index (PSI) of the score and of every input column against the training rows, "
             "bins fixed from the training rows; below 0.10 stable, 0.10–0.25 moderate (look), 0.25 or more "
             "significant (act: re-validate or retrain)." if kind == "tabular" else
             "The intent mix of recent questions against validation (PSI), the fallback rate and the mean "
             "confidence, over FTBOT_DRIFT_WINDOW_DAYS.", ""]
    lines += [f"- Deployed in: {', '.join(sorted(scopes)) or 'nowhere yet'}."]
    lines += [f"- Schedule `{s['id']}`: {s['kind']} of {s['target']} at `{s['cron']}`" for s in plans] or \
             ["- No drift schedule yet: `ftbot schedule add drift SCOPE '0 7 * * 1'` posts when a band is crossed."]
    if scored:
        d = scored.get("drift") or {}
        lines.append(f"- Last scored file: {scored['file_name']} ({scored['rows']:,} rows, "
                     f"{str(scored['scored_at'])[:16]}), score PSI {d.get('score_psi') if d.get('score_psi') is None else round(d['score_psi'], 3)}"
                     f" ({d.get('score_band')}).")
    return lines + [""]


def _approvals(home, requests: list[dict], deployed: list[dict]) -> list[str]:
    pol = policy.current(home)
    lines = ["## Approval history", "", f"Deploy approval policy: **{pol['mode']}**"
             + (f" (set by {pol['set_by']} at {str(pol['set_at'])[:19]})" if pol.get("set_by") else "") + ".", ""]
    if not requests and not deployed:
        return lines + ["Never requested for deployment.", ""]
    lines += ["| when | what | who | outcome |", "|---|---|---|---|"]
    for r in requests:
        lines.append(f"| {str(r['requested_at'])[:19]} | request #{r['id']} to deploy in {r['scope']} | "
                     f"{r['requested_by']} | {r['status']}" + (f" by {r['decided_by']} at {str(r['decided_at'])[:19]}"
                                                              if r.get("decided_by") else "") + " |")
    for d in deployed:
        lines.append(f"| {str(d['deployed_at'])[:19]} | deployed in {d['scope']} ({d.get('via') or 'deploy'}) | "
                     f"{d['deployed_by']} | {'active' if d['active'] else 'replaced'}"
                     + (f", rolled back by {d['rolled_back_by']}" if d.get("rolled_back_by") else "") + " |")
    return lines + [""]


def _register_line(ds: dict, protected: list[str]) -> str:
    """`ftbot dataset add` with every option that shaped the stored rows: columns, protected attributes, split."""
    import shlex
    split = ds.get("split") or {}
    parts = ["ftbot dataset add", shlex.quote(ds["name"]), shlex.quote(Path(str(ds.get("source") or "FILE")).name)]
    if ds.get("text_column"):
        parts += ["--text-column", shlex.quote(ds["text_column"])]
    if ds.get("label_column"):
        parts += ["--label-column", shlex.quote(ds["label_column"])]
    if protected:
        parts += ["--protected", shlex.quote(",".join(protected))]
    if ds.get("redacted"):
        parts.append("--redact")
    if split.get("fraction") is not None:
        parts += ["--val-fraction", f"{split['fraction']:g}"]
    if split.get("seed") is not None:
        parts += ["--seed", str(split["seed"])]
    return " ".join(parts)


def _reproduce(ds: dict, cfg: dict, protected: list[str]) -> list[str]:
    from engine.config import TrainConfig
    known = set(TrainConfig.keys())
    keys = {k: v for k, v in cfg.items() if k in known and v is not None}
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in keys.items())
    versions = ", ".join(f"{p} {_version(p)}" for p in PACKAGES)
    return ["## How to reproduce", "",
            f"With the stored copy of the data (sha256 `{ds['sha256']}`) registered under the same split seed "
            f"({(ds.get('split') or {}).get('seed')}), on the same packages:", "",
            "```", _register_line(ds, protected),
            f"ftbot train {ds['name']} {flags}", "```", "",
            f"Packages: {versions}; Python {platform.python_version()}. A CPU run with the same seed repeats "
            "exactly; a GPU run agrees to rounding.", ""]
