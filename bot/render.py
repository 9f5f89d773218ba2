"""Plain-text rendering for the CLI (Slack has its own presenters in bot/replies.py): each command of ops/commands.py
has a text view and, where its --json shape is not the result itself, a JSON view (VIEWS, at the end)."""
from __future__ import annotations

import sys

from bot.blocks import pct, threshold_rows
from bot.blocks_promotion import _mode


def _pct(v) -> str:
    return "—" if v is None else f"{100 * v:.2f}%"


def _num(v) -> str:
    return "—" if not isinstance(v, (int, float)) else f"{v:.4g}"


def run_json(run: dict) -> dict:
    """The CLI's --json shape of a run: stable top-level keys, then the full record."""
    m = run.get("metrics") or {}
    base = (m.get("baseline") or {})
    out = {"run_id": run["id"], "status": run["status"], "dataset": run["dataset"], "base": run["base"],
           "method": run["method"], "alpha": run["loss_alpha"], "pre_loss": run.get("pre_loss"), "freeze": run["freeze"],
           "accuracy": run.get("accuracy"), "macro_f1": run.get("macro_f1"), "artifact_path": run.get("artifact_path"),
           "reason": run.get("reason"), "error": run.get("error"), "trainable_params": run.get("trainable_params"),
           "total_params": run.get("total_params"), "created_at": run.get("created_at"),
           "started_at": run.get("started_at"), "finished_at": run.get("finished_at"),
           "queue_position": run.get("queue_position"), "config": run.get("config"), "metrics": m,
           "delivery_problem": run.get("delivery_problem"), "delivery_channel": run.get("delivery_channel")}
    if base:
        out["baseline"] = base
    if m.get("selection"):
        out["served"] = m.get("served") or (m.get("selection") or {}).get("served")
        out["selection"] = m["selection"]
    if m.get("refitted"):
        out["refitted"] = m["refitted"]
    if run.get("plan"):
        out["plan"] = run["plan"]
    return out


def plan(p: dict) -> str:
    if not p:
        return ""
    share = 100.0 * p["trainable_params"] / max(p["total_params"], 1)
    cfg = p.get("config", {})
    return (f"{cfg.get('method', '?')} on {cfg.get('base', '?')}: {p['trainable_params']:,} of {p['total_params']:,} "
            f"parameters train ({share:.2f}%); frozen: {p['frozen']}; α={cfg.get('alpha')} with L_pre={p['pre_loss']}; "
            + (f"head also reads {p['features']}; " if p.get("features") else "")
            + (f"{p['gpus']} GPUs; " if (p.get("gpus") or 1) > 1 else "")
            + f"{p.get('total_steps', '?')} steps, about {p['estimated_seconds']:.0f}s on {p.get('device', 'cpu')}")


def _baseline_line(m: dict) -> str:
    b = (m or {}).get("baseline") or {}
    parts = []
    for name, v in b.items():
        if isinstance(v, dict) and v.get("accuracy") is not None:
            parts.append(f"{name} {_pct(v.get('accuracy'))} acc / {_pct(v.get('macro_f1'))} F1")
    return "; ".join(parts)


def run(r: dict) -> str:
    lines = [f"run #{r['id']} [{r['status']}] {r['dataset']} · {r['method']} on {r['base']} · α={r['loss_alpha']}"
             f" ({r.get('pre_loss') or 'L_pre auto'}) · freeze={r['freeze']}"]
    if r.get("queue_position"):
        lines.append(f"  queue position: {r['queue_position']}")
    p = r.get("progress") or {}
    if r["status"] == "running" and p:
        lines.append(f"  step {p.get('step')}/{p.get('total_steps')} epoch {p.get('epoch') or 0:.2f}"
                     f" loss {p.get('loss') or 0:.4f} eta {p.get('eta_s') or 0:.0f}s")
    if r.get("accuracy") is not None:
        lines.append(f"  accuracy {_pct(r['accuracy'])} · macro-F1 {_pct(r['macro_f1'])}")
        m = r.get("metrics") or {}
        if bl := _baseline_line(m):
            lines.append(f"  baseline: {bl}")
        sel = m.get("selection") or {}
        if (sc := sel.get("scores") or {}):
            name = "ROC AUC" if sel.get("metric") == "roc_auc" else "macro-F1"
            lines.append(f"  serving {sel.get('served')} — {name} on validation: fine-tuned {_num(sc.get('finetuned'))}"
                         f" · baseline ({sel.get('partner')}) {_num(sc.get('baseline'))} · blend {_num(sc.get('blend'))};"
                         f" best {sel.get('best')} by {_num(sel.get('margin'))}"
                         + (f" (blend weight {_num(sel.get('weight'))}, chosen on {sel.get('weight_chosen_on')})"
                            if sel.get("weight") is not None else ""))
            if sel.get("partner_chosen_on"):
                lines.append(f"  partner {sel.get('partner')} chosen by {sel['partner_chosen_on']}")
        if (rf := m.get("refitted") or {}):
            lines.append(f"  refit on all {rf.get('rows')} rows (train + validation) after selection: "
                         f"{rf.get('status')}, {rf.get('transformer')}; figures above are of the first fit")
        if m.get("roc_auc") is not None:
            cost = (m.get("binary") or {}).get("expected_cost", m.get("expected_cost"))
            lines.append(f"  ROC AUC {m['roc_auc']:.3f} · KS {m.get('ks', 0):.3f}"
                         + (f" · expected cost {cost:.3f}/applicant (threshold chosen on {threshold_rows(m)})"
                            if isinstance(cost, (int, float)) else ""))
        f = m.get("forgetting") or {}
        if f.get("drift") is not None:
            lines.append(f"  forgetting: embedding drift {f['drift']:.4f} (1 − cosine to the pretrained encoder)")
        t = m.get("train") or {}
        if t.get("wall_s"):
            lines.append(f"  trained in {t['wall_s']:.1f}s · {t.get('train_examples_per_s') or 0:.1f} examples/s")
    if r.get("error"):
        lines.append(f"  error: {r['error']}")
    elif r.get("reason") and r["status"] != "succeeded":
        lines.append(f"  reason: {r['reason']}")
    if r.get("artifact_path"):
        lines.append(f"  artifact: {r['artifact_path']}")
    if r.get("delivery_problem"):
        lines.append(f"  slack: {r['delivery_problem']}"
                     + (f" (updates go to {r['delivery_channel']} instead)" if r.get("delivery_channel") else ""))
    return "\n".join(lines)


def runs(rows: list[dict]) -> str:
    if not rows:
        return "no runs yet; start one with `ftbot train DATASET`"
    head = f"{'run':>5}  {'status':<10} {'dataset':<18} {'method':<5} {'α':>4}  {'accuracy':>9} {'macro-F1':>9}"
    body = [f"{'#' + str(r['id']):>5}  {r['status']:<10} {r['dataset'][:18]:<18} {r['method']:<5} {r['loss_alpha']:>4}"
            f"  {_pct(r.get('accuracy')):>9} {_pct(r.get('macro_f1')):>9}" for r in rows]
    return "\n".join([head] + body)


def dataset(d: dict) -> str:
    counts = d.get("label_counts") or {}
    split = d.get("split") or {}
    pii = (d.get("pii") or {}).get("counts") or {}
    lines = [f"dataset {d['name']} ({d['kind']}, {d['format']}): {d['rows']} rows, {len(counts)} labels, "
             f"split {split.get('train')} train / {split.get('validation')} validation (seed {split.get('seed')})",
             f"  sha256 {d['sha256'][:16]}…  answers for {d.get('answers', 0)} labels",
             "  labels: " + ", ".join(f"{k} ({v})" for k, v in list(counts.items())[:12])
             + (f", … {len(counts) - 12} more" if len(counts) > 12 else "")]
    if pii:
        lines.append("  PII found: " + ", ".join(f"{k} ×{v}" for k, v in pii.items())
                     + ("" if d.get("redacted") else " (not redacted; re-add with --redact to remove)"))
    if d.get("protected"):
        lines.append("  protected attributes (fairness report; not model inputs unless use_protected=yes): "
                     + ", ".join(d["protected"]))
    if "feedback" in d:
        lines.append(f"  feedback: 👍 {d['feedback']['up']} · 👎 {d['feedback']['down']} · runs: {d.get('runs', 0)}")
    for w in d.get("warnings") or []:
        lines.append(f"  warning: {w}")
    return "\n".join(lines)


def datasets(rows: list[dict]) -> str:
    if not rows:
        return "no datasets yet; add one with `ftbot dataset add NAME PATH`"
    return "\n".join(f"{r['name']:<20} {r['kind']:<8} {r['rows']:>7} rows {len(r['labels']):>4} labels  {r['created_at'][:19]}"
                     for r in rows)


def evaluation(res: dict) -> str:
    return (f"run #{res['run_id']} on {res['evaluated_on']} ({res['examples']} examples): accuracy {_pct(res.get('accuracy'))}"
            f" · macro-F1 {_pct(res.get('macro_f1'))}"
            + (f" · ROC AUC {res['roc_auc']:.3f}" if res.get("roc_auc") is not None else ""))


def comparison(res: dict) -> str:
    a, b = res["a"], res["b"]
    lines = [f"#{a['id']} vs #{b['id']}"]
    for k, v in res["metrics"].items():
        d = v.get("delta")
        lines.append(f"  {k:<14} {v.get('a')!s:>22} {v.get('b')!s:>22}" + (f"  Δ {d:+.4f}" if d is not None else ""))
    for k, v in res["config_diff"].items():
        lines.append(f"  {k:<14} {v['a']!s:>22} {v['b']!s:>22}")
    return "\n".join(lines)


def answer(res: dict) -> str:
    top = ", ".join(f"{label} {p:.2f}" for label, p in res["top"])
    flag = " (fallback: below the confidence threshold)" if res["fallback"] else ""
    return f"{res['answer']}\n  intent {res['intent']} · confidence {res['confidence']:.2f}{flag} · top: {top}"


# ---- champions, challengers, four eyes ----------------------------------------------------------------------------
def request_json(req: dict) -> dict:
    keys = ("id", "kind", "scope", "run_id", "status", "requested_by", "requested_at", "expires_at", "decided_by",
            "decided_at", "reason", "base_run_id", "deployment_id", "payload")
    out = {k: req.get(k) for k in keys}
    out["request_id"] = req.get("id")
    out["report"] = req.get("report") or {}
    return out


def request_what(req: dict) -> str:
    """What a request asks for, in words."""
    if req.get("kind") == "policy":
        return f"set deploy approval to {_mode(req)}"
    return f"deploy run #{req['run_id']} to {req['scope']!r}"


def request_effect(req: dict) -> str:
    """What an approved request changed."""
    if req.get("kind") == "policy":
        return f"deploy approval is now {_mode(req)}"
    return f"run #{req['run_id']} now answers in {req['scope']!r}"


def request_line(req: dict) -> str:
    line = f"request #{req['id']}: {request_what(req)} is {req['status']} (asked by {req['requested_by']}"
    if req["status"] == "pending":
        return line + f"; expires {req['expires_at'][:16].replace('T', ' ')} UTC). Another approver runs " \
                      f"`ftbot approve {req['id']}` or `ftbot reject {req['id']}`."
    return line + (f", decided by {req['decided_by']})" if req.get("decided_by") else ")")


def report_text(rep: dict) -> str:
    lines = [f"challenger run #{rep['challenger_run_id']} vs champion run #{rep['champion_run_id']} in "
             f"{rep['scope']!r}" + ("" if rep["active"] else f" (ended: {rep.get('ended_reason')})"),
             f"  questions seen: {rep['questions']}   agreement: {pct(rep['agreement'])}"]
    for who in ("champion", "challenger"):
        s = rep[who]
        lines.append(f"  {who:<10} fallback {pct(s['fallback_rate'])}   mean confidence "
                     f"{'–' if s['mean_confidence'] is None else format(s['mean_confidence'], '.3f')}")
    ab = rep["ab"]
    lines.append(f"  A/B questions: {ab['questions']}   champion 👍{ab['champion']['up']} 👎{ab['champion']['down']}"
                 f"   challenger 👍{ab['challenger']['up']} 👎{ab['challenger']['down']}")
    for d in rep["disagreements"]:
        lines.append(f"  disagree on {d['intent']}: {d['disagree']}/{d['questions']} (challenger says "
                     f"{d['challenger_says']})" + "".join(f"\n      e.g. {e['question']!r}" for e in d["examples"]))
    for ds in rep.get("labelled") or []:
        if "error" in ds:
            lines.append(f"  {ds['name']}: {ds['error']}")
        else:
            lines.append(f"  {ds['name']} ({ds['examples']} examples): champion accuracy "
                         f"{pct(ds['champion']['accuracy'])} macro-F1 {pct(ds['champion']['macro_f1'])} · "
                         f"challenger accuracy {pct(ds['challenger']['accuracy'])} macro-F1 "
                         f"{pct(ds['challenger']['macro_f1'])}"
                         + (f"\n    ({ds['not_held_out']})" if ds.get("not_held_out") else ""))
    return "\n".join(lines)


def history_text(h: dict) -> str:
    lines = [f"approval: {h['approval']}"]
    for p in h["pending"]:
        lines.append("pending " + request_line(p))
    for c in h["challengers"]:
        lines.append(f"challenger run #{c['run_id']} in {c['scope']!r} since {c['started_at'][:16]} "
                     f"(by {c['started_by']})")
    for d in h["deployments"]:
        state = "active" if d["active"] else ("rolled back" if d.get("rolled_back_at") else "superseded")
        how = d.get("via") or "deploy"
        lines.append(f"#{d['id']} {d['scope']}: run #{d['run_id']} {how} by {d['deployed_by']} at "
                     f"{d['deployed_at'][:19].replace('T', ' ')} — {state}"
                     + (f" (request #{d['request_id']})" if d.get("request_id") else ""))
    return "\n".join(lines) if len(lines) > 1 else lines[0] + "\nnothing deployed yet"


class ProgressBar:
    """tqdm bar fed by the single training progress callback; milestones print above it."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._bar = None

    def update(self, p) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        d = p.to_dict() if hasattr(p, "to_dict") else dict(p)
        if self._bar is None and d.get("total_steps"):
            self._bar = tqdm(total=d["total_steps"], unit="step", file=sys.stderr, dynamic_ncols=True)
        if d.get("kind") in ("milestone", "eval"):
            msg = d.get("message") or ""
            if d.get("metrics"):
                msg += " " + " ".join(f"{k}={v:.4f}" for k, v in d["metrics"].items() if isinstance(v, (int, float)))
            (self._bar.write if self._bar else print)(f"[{d.get('kind')}] {msg.strip()}")
        if self._bar is not None and d.get("step") is not None:
            self._bar.n = d["step"]
            post = {"ep": f"{d.get('epoch') or 0:.2f}"}
            if d.get("loss_new") is not None:
                post["L_new"] = f"{d['loss_new']:.3f}"
            if d.get("loss_pre") is not None:
                post["L_pre"] = f"{d['loss_pre']:.3f}"
            self._bar.set_postfix(post, refresh=False)
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


# ---- one view per command -----------------------------------------------------------------------------------------
def _deployed_or_pending(res: dict, _args: dict) -> str:
    if res["status"] == "pending":
        return request_line(res)
    return f"run #{res['run_id']} now answers questions in scope {res['scope']!r}"


def _deployed_json(res: dict, _args: dict) -> dict:
    if res["status"] == "pending":
        return request_json(res)
    dep = res["deployment"]
    return {"run_id": dep["run_id"], "scope": dep["scope"], "deployed_at": dep["deployed_at"], "status": "deployed",
            "artifact_path": dep["run"]["artifact_path"]}


def _challenger_json(row: dict, _args: dict) -> dict:
    row = dict(row)
    row.pop("replaced", None)
    row["challenger_id"] = row["id"]
    return row


def _approval(res: dict, _args: dict) -> str:
    if res.get("status") == "pending":
        return request_line(res)
    return (f"deploy approval is {res['mode']}" + (f" (set by {res['set_by']} at {res['set_at'][:19]})"
                                                   if res.get("set_by") else ""))


def _keep(days) -> str:
    return "forever" if days is None else f"{days:g} days"


def scored(res: dict, _args: dict | None = None) -> str:
    """`ftbot score`: where the file went, the decisions, the reasons most often given, the drift."""
    lines = [f"scored {res['rows']:,} rows with run #{res['run_id']} in {res['seconds']:.1f}s → {res['out_path']}"]
    if res.get("kind") == "tabular":
        lines.append(f"  decisions (P({res['positive_label']}) ≥ {res['threshold']:.3f} is {res['positive_label']}): "
                     + ", ".join(f"{k} {v:,}" for k, v in res["counts"].items()))
        if res.get("top_reasons"):
            lines.append("  most frequent reasons: " + ", ".join(f"{c} ({n:,})" for c, n in res["top_reasons"]))
        if res.get("unseen_categories"):
            lines.append("  categories the training rows never held (scored all the same): "
                         + ", ".join(f"{c} ({n:,} rows)" for c, n in res["unseen_categories"].items()))
    else:
        lines.append(f"  intents: " + ", ".join(f"{k} {v:,}" for k, v in list(res["counts"].items())[:8])
                     + f"; {res['fallback']:,} would go to a human ({100 * res['fallback_rate']:.1f}%)")
    if res.get("extra_columns"):
        lines.append("  ignored columns the run does not read: " + ", ".join(res["extra_columns"]))
    if res.get("drift"):
        lines.append("  " + drift_line(res["drift"]))
    if res.get("metrics") and "accuracy" in res["metrics"]:
        m = res["metrics"]
        lines.append(f"  labelled file: accuracy {_pct(m.get('accuracy'))} · macro-F1 {_pct(m.get('macro_f1'))}"
                     + (f" · ROC AUC {m['roc_auc']:.3f}" if m.get("roc_auc") is not None else ""))
    return "\n".join(lines)


def drift_line(d: dict) -> str:
    """One line of a drift result: the score's PSI, the columns past the bands, the caution."""
    if d.get("kind") == "text":
        mix = d.get("intent_mix") or {}
        return (f"{d['questions']:,} questions in the last {d['window_days']:g} days: intent mix PSI "
                f"{_num(mix.get('psi'))} ({mix.get('band') or '–'}), fallback {_pct(d.get('fallback_rate'))} "
                f"(validation {_pct(d.get('validation_fallback_rate'))}), mean confidence {_num(d.get('mean_confidence'))}")
    moved = [f"{c} {d['columns'][c]:.2f}" for c in d.get("columns", {}) if d["bands"].get(c) != "stable"]
    line = (f"drift: score PSI {_num(d.get('score_psi'))} ({d.get('score_band') or '–'})"
            + (f"; columns past 0.10: {', '.join(moved)}" if moved else "; every column stable (PSI < 0.10)"))
    off_band = moved or d.get("score_band") not in (None, "stable")
    if off_band and "beyond_noise" in d:
        line += (f"; more than sampling noise explains: {', '.join(d['beyond_noise'])}" if d["beyond_noise"]
                 else "; all of it within what sampling alone gives at this size")
    return line + (f" — caution: {d['caution']}" if d.get("caution") else "")


def explained(res: dict, _args: dict | None = None) -> str:
    lines = [f"row {res['row']}: P({res.get('positive_label', 'positive')}) {res['probability']:.3f} → "
             f"{res['decision']} (threshold {res['threshold']:.3f})"]
    lines += [f"  reason {i}: {r}" for i, r in enumerate(res["reasons"], 1)]
    lines.append(f"  {res['flip_words']}")
    return "\n".join(lines)


def drifted(res: dict, _args: dict | None = None) -> str:
    head = f"run #{res['run_id']}" + (f" (deployed in {res['scope']!r})" if res.get("scope") else "")
    if res.get("kind") == "tabular":
        lines = [f"{head} on {res.get('source')}: {drift_line(res)}"]
        lines += [f"  {c:<24} PSI {v:.3f} {res['bands'][c]}" for c, v in res["columns"].items()]
        return "\n".join(lines)
    return f"{head}: {drift_line(res)}"


# name → (text view, JSON view or None for the result itself); (result, arguments) → str / dict
VIEWS: dict[str, tuple] = {
    "score": (scored, lambda res, a: {k: v for k, v in res.items() if k != "declined"}),
    "explain": (explained, None),
    "drift": (drifted, None),
    "report": (lambda res, a: f"validation report of run #{res['run_id']} → {res['out_path']}"
               + (f" ({len(res.get('warnings') or [])} warnings)" if res.get("warnings") else ""), None),
    "dataset list": (lambda rows, a: datasets(rows), lambda rows, a: {"datasets": rows}),
    "dataset show": (lambda row, a: dataset(row), None),
    "dataset add": (lambda row, a: dataset(row), None),
    "dataset export-feedback": (lambda n, a: f"wrote {n} training rows from feedback to {a['out_path']}",
                                lambda n, a: {"dataset": a["name"], "rows": n, "path": str(a["out_path"])}),
    "runs": (lambda rows, a: runs(rows), lambda rows, a: {"runs": [run_json(r) for r in rows]}),
    "status": (lambda row, a: run(row), lambda row, a: run_json(row)),
    "cancel": (lambda row, a: f"run #{row['id']}: {row['status']}"
               + (" (stops within seconds)" if row["status"] == "running" else ""), lambda row, a: run_json(row)),
    "eval": (lambda res, a: evaluation(res), None),
    "compare": (lambda res, a: comparison(res), None),
    "deploy": (_deployed_or_pending, _deployed_json),
    "promote": (_deployed_or_pending, lambda res, a: request_json(res) if res["status"] == "pending" else
                {"status": "deployed", "run_id": res["run_id"], "scope": res["scope"]}),
    "ask": (lambda res, a: answer(res), None),
    "approve": (lambda req, a: request_line(req) + "; " + request_effect(req), lambda req, a: request_json(req)),
    "reject": (lambda req, a: request_line(req), lambda req, a: request_json(req)),
    "rollback": (lambda res, a: f"{res['scope']!r}: back to run #{res['run_id']} (run #{res['from_run_id']} rolled back)",
                 lambda res, a: {"scope": res["scope"], "run_id": res["run_id"], "from_run_id": res["from_run_id"],
                                 "deployment_id": res["deployment"]["id"], "status": "rolled_back"}),
    "deployments": (lambda h, a: history_text(h), None),
    "approval": (_approval, None),
    "challenge": (lambda row, a: f"run #{row['run_id']} now answers every question in {row['scope']!r} in the "
                  f"background beside champion run #{row['champion_run_id']}; see `ftbot challenge report`",
                  _challenger_json),
    "challenge report": (lambda rep, a: report_text(rep), None),
    "challenge stop": (lambda row, a: f"challenger run #{row['run_id']} in {row['scope']!r} stopped", None),
    "schedule add": (lambda row, a: f"schedule {row['id']}: {row['kind']} {row['target']} at '{row['cron']}'"
                     f" (next {row.get('next_run_at')})", None),
    "schedule list": (lambda rows, a: "\n".join(f"{r['id']}: {r['kind']} {r['target']} '{r['cron']}' next "
                                                f"{r.get('next_run_at')}" for r in rows) or "no schedules",
                      lambda rows, a: {"schedules": rows}),
    "schedule remove": (lambda row, a: f"schedule {row['id']} removed", lambda row, a: {"removed": row["id"]}),
    "prune": (lambda res, a: f"pruned {res['questions']} questions, {res['feedback']} feedback votes, "
              f"{res['deliveries']} delivery records, {res['events']} run events, {res.get('reports', 0)} "
              f"challenger reports and examples in {res.get('requests', 0)} requests (kept "
              f"{_keep(res['retention_days'])}) and {res['audit']} audit entries (kept "
              f"{_keep(res['audit_retention_days'])})", None),
}
