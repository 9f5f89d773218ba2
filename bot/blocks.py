"""Block Kit builders. Pure functions from plain dicts (records and results of the operations layer, ops/) to blocks.

Every builder also has a plain-text fallback (`text=`) so notifications and screen readers get the gist.
"""
from __future__ import annotations

import math

from ops.privacy import scrub_paths

from bot.text_limits import MESSAGE_TEXT_MAX, cut, sections

MAX_TEXT = 3000  # a section's text field allows 3000 characters (UTF-16 units; bot/text_limits.py)


def esc(text) -> str:
    """Slack's mrkdwn escaping (user text must not become mentions or links)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, MAX_TEXT)}}


def context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(text, MAX_TEXT)}]}


def plain(text: str | None, blocks: list | None, limit: int = MESSAGE_TEXT_MAX // 4) -> str:
    """The words of a message without its blocks, for when Slack refuses the blocks (or the size): headers, section
    texts and fields, context lines and image alt texts, in order. A builder's `text=` is often only a gist ('Recent
    runs'), so the blocks' words are what the reader needs; `text` when the blocks hold none. Buttons and menus
    cannot be carried by plain text and are left out. Cut to `limit` UTF-16 units (10,000: a quarter of Slack's
    message text limit, in case the size was the refusal)."""
    lines: list[str] = []
    for b in blocks or []:
        if not isinstance(b, dict):
            continue
        kind = b.get("type")
        if kind in ("header", "section") and isinstance(b.get("text"), dict):
            lines.append(str(b["text"].get("text") or ""))
        if kind == "section":
            lines.extend(str(f.get("text") or "") for f in b.get("fields") or [] if isinstance(f, dict))
        elif kind == "context":
            lines.append(" ".join(str(e.get("text") or e.get("alt_text") or "") for e in b.get("elements") or []
                                  if isinstance(e, dict)))
        elif kind == "image" and b.get("alt_text"):
            lines.append(f"[{b['alt_text']}]")
    body = "\n".join(line for line in lines if line.strip())
    return cut(body or str(text or ""), limit)


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict:
    b = {"type": "button", "text": {"type": "plain_text", "text": text, "emoji": True}, "action_id": action_id,
         "value": value}
    if style:
        b["style"] = style
    return b


def pct(v) -> str:
    return "–" if v is None else f"{100 * float(v):.1f}%"


def num(v, digits: int = 4) -> str:
    if v is None:
        return "–"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "–" if math.isnan(f) else f"{f:.{digits}g}"


def duration(seconds) -> str:
    if seconds is None:
        return "–"
    s = int(round(float(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def bar(fraction: float, width: int = 20) -> str:
    f = min(max(float(fraction or 0), 0.0), 1.0)
    full = int(round(f * width))
    return "█" * full + "░" * (width - full) + f" {int(round(100 * f))}%"


def params(n) -> str:
    if n is None:
        return "–"
    n = int(n)
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


# ---- runs ---------------------------------------------------------------------------------------------------
def run_title(run: dict) -> str:
    return (f"run #{run['id']} · {esc(run['dataset'])} · {run['method']} · α={num(run.get('loss_alpha'), 3)}"
            f" · base {esc(base_name(run['base']))}")


def base_name(base) -> str:
    """A base model as Slack shows it: an alias or hub id as typed; a server folder by its name only."""
    from pathlib import PurePath
    text = str(base or "?")
    return PurePath(text).name if text.startswith(("/", "~", ".")) else text


def plan_text(run: dict, plan: dict | None) -> str:
    """What will train, shown before the run starts."""
    plan = plan or {}
    cfg = run.get("config") or {}
    trainable = plan.get("trainable_params", run.get("trainable_params"))
    total = plan.get("total_params", run.get("total_params"))
    share = f" ({100 * trainable / total:.2f}% of {params(total)})" if trainable and total else ""
    frozen = plan.get("frozen")
    if isinstance(frozen, (list, tuple)):
        frozen = ", ".join(map(str, frozen)) or "none"
    alpha = run.get("loss_alpha", cfg.get("alpha"))
    pre = plan.get("pre_loss", run.get("pre_loss")) or "–"
    lines = [f"*Trainable parameters:* {params(trainable)}{share}",
             f"*Frozen:* {esc(frozen or run.get('freeze') or 'none')}",
             f"*α (L_pre weight):* {num(alpha, 3)} · *L_pre:* {esc(pre)}"
             + (" (off: α=0 is plain fine-tuning)" if alpha in (0, 0.0) else ""),
             f"*Epochs:* {num(cfg.get('epochs'), 3)} · *lr:* {num(cfg.get('lr'), 3)}"
             + (f" · *LoRA r:* {cfg.get('r')}" if run.get("method") == "lora" else "")]
    if plan.get("lora_targets"):
        lines.append(f"*LoRA targets:* {esc(', '.join(map(str, plan['lora_targets'])))}")
    if plan.get("features"):
        lines.append(f"*Head also reads:* {esc(plan['features'])}")
    if (plan.get("gpus") or 1) > 1:
        lines.append(f"*GPUs:* {plan['gpus']} (one torchrun copy each)")
    if plan.get("estimated_seconds") is not None:
        lines.append(f"*Rough time:* ~{duration(plan['estimated_seconds'])}")
    return "\n".join(lines)


def submitted(run: dict, plan: dict | None) -> tuple[str, list[dict]]:
    pos = run.get("queue_position")
    head = f":rocket: Queued {run_title(run)}" + (f" — position {pos} in the queue" if pos and pos > 1 else "")
    return head, [section(head), section(plan_text(run, plan)),
                  context("Progress will appear in this channel; `/ft cancel " + str(run["id"]) + "` stops it.")]


def status_message(run: dict, latest_eval: dict | None = None) -> tuple[str, list[dict]]:
    """The one status message per run, edited while it trains."""
    p = run.get("progress") or {}
    state = run["status"]
    icon = {"queued": ":hourglass_flowing_sand:", "running": ":gear:", "succeeded": ":white_check_mark:",
            "failed": ":x:", "cancelled": ":no_entry_sign:"}.get(state, "")
    head = f"{icon} *{run_title(run)}* — {state}"
    lines = [head]
    if p:
        total = p.get("total_steps") or 0
        frac = (p.get("step") or 0) / total if total else 0.0
        if state == "succeeded":
            frac = 1.0
        lines.append(f"`{bar(frac)}`  step {p.get('step', '–')}/{total or '–'} · epoch {num(p.get('epoch'), 3)}")
        lines.append(f"L_new {num(p.get('loss_new'))} · L_pre {num(p.get('loss_pre'))} · loss {num(p.get('loss'))}"
                     + (f" · ETA {duration(p.get('eta_s'))}" if state == "running" and p.get("eta_s") is not None else ""))
    metrics = (latest_eval or {}).get("metrics") if latest_eval else None
    if metrics:
        lines.append("validation: " + " · ".join(f"{k} {num(v)}" for k, v in metrics.items()
                                                 if isinstance(v, (int, float))))
    if state == "succeeded":
        lines.append(f"accuracy {pct(run.get('accuracy'))} · macro-F1 {pct(run.get('macro_f1'))}")
    if state in ("failed", "cancelled"):
        lines.append(f"_{esc(scrub_paths(run.get('error') or run.get('reason') or state))}_")
    text = "\n".join(lines)
    return f"run #{run['id']} {state}", [section(text), context("Milestones and charts are in the thread.")]


def final_message(run: dict, previous: dict | None) -> tuple[str, list[dict]]:
    """The result in the channel: metrics, baseline, change against the previous run, buttons."""
    rid = run["id"]
    if run["status"] != "succeeded":
        who = f"<@{run['requester']}> " if run.get("requester") else ""
        why = scrub_paths(run.get("error") or run.get("reason") or run["status"])   # posted for the whole channel
        text = f"{who}:x: run #{rid} ({esc(run['dataset'])}) {run['status']}: {esc(why)}"
        if run["status"] == "cancelled":
            text = f"{who}:no_entry_sign: run #{rid} ({esc(run['dataset'])}) was cancelled: {esc(why)}"
        return cut(text, MESSAGE_TEXT_MAX), [section(text)]
    m = run.get("metrics") or {}
    base = m.get("baseline") or {}
    lines = [f":trophy: *{run_title(run)}* finished",
             f"*Accuracy* {pct(run.get('accuracy'))} · *macro-F1* {pct(run.get('macro_f1'))}"]
    lines += selection_lines(m)
    # report()'s baseline is {key: {name, accuracy, macro_f1, …}}: one sklearn model per key
    for b in (v for v in base.values() if isinstance(v, dict) and v.get("accuracy") is not None):
        lines.append(f"*Baseline* ({esc(b.get('name') or 'sklearn')}): accuracy {pct(b.get('accuracy'))} · "
                     f"macro-F1 {pct(b.get('macro_f1'))}")
    if previous:
        da = _delta(run.get("accuracy"), previous.get("accuracy"))
        df = _delta(run.get("macro_f1"), previous.get("macro_f1"))
        lines.append(f"*vs run #{previous['id']}*: accuracy {da} · macro-F1 {df}")
    else:
        lines.append("_first successful run on this dataset_")
    if isinstance(m.get("roc_auc"), (int, float)):
        lines.append(f"*ROC AUC* {num(m['roc_auc'])} · *KS* {num(m.get('ks'))} · *expected cost* "
                     f"{num(m.get('expected_cost'))} per applicant (threshold chosen on {threshold_rows(m)})")
    drift = (m.get("forgetting") or {}).get("drift")
    if isinstance(drift, (int, float)):
        lines.append(f"*Forgetting*: embedding drift {num(drift)} (1 − cosine to the pretrained encoder)")
    text = "\n".join(lines)
    buttons = [button("Deploy here", "run_deploy", str(rid), "primary")]
    if previous:
        buttons.append(button(f"Compare with #{previous['id']}", "run_compare", f"{previous['id']},{rid}"))
    return (f"run #{rid} finished: accuracy {pct(run.get('accuracy'))}, macro-F1 {pct(run.get('macro_f1'))}",
            [section(text), {"type": "actions", "block_id": f"run_{rid}_actions", "elements": buttons}])


def threshold_rows(m: dict) -> str:
    """On which rows the cost threshold was chosen (engine/evaluate.py `_cost_threshold`)."""
    on = (m.get("binary") or {}).get("threshold_chosen_on") or {}
    if on.get("training_rows"):
        return (f"{on.get('validation_rows')} validation rows + {on['training_rows']} training rows it was not "
                f"fitted on")
    return "validation"


def selection_lines(m: dict) -> list[str]:
    """Which model answers and why (engine/evaluation/selection.py): the fine-tuned model, its sklearn partner, or
    their blend — compared on validation, the blend's weight chosen on training rows only."""
    sel = (m or {}).get("selection") or {}
    sc = sel.get("scores") or {}
    if not sc:
        return []
    name = "ROC AUC" if sel.get("metric") == "roc_auc" else "macro-F1"
    out = [f"*Serving* {esc(sel.get('served'))} — {name} on validation: fine-tuned {num(sc.get('finetuned'))} · "
           f"baseline ({esc(sel.get('partner'))}) {num(sc.get('baseline'))} · blend {num(sc.get('blend'))}; "
           f"best {esc(sel.get('best'))} by {num(sel.get('margin'))}"]
    if sel.get("weight") is not None:
        out.append(f"_blend weight {num(sel.get('weight'))} on the fine-tuned model, chosen on "
                   f"{esc(sel.get('weight_chosen_on'))}; {esc(sel.get('served_why') or '')}_")
    if sel.get("partner_chosen_on"):
        out.append(f"_partner {esc(sel.get('partner'))} chosen by {esc(sel['partner_chosen_on'])}_")
    out += refit_lines(m)
    return out


def refit_lines(m: dict) -> list[str]:
    """Whether the served models were trained again on train + validation once chosen (engine/refit.py)."""
    r = (m or {}).get("refitted") or {}
    if not r:
        return []
    if r.get("status") != "succeeded":
        return [f"_refit on all {r.get('rows', '?'):,} rows {esc(r.get('status'))}: {esc(r.get('transformer') or '')}_"]
    return [f"*Refit* on all {r.get('rows', 0):,} rows (train + validation) after selection: "
            f"{esc(r.get('transformer') or '')}; the figures above are of the first fit, on rows it never trained on"]


def _delta(new, old) -> str:
    if new is None or old is None:
        return "–"
    d = 100 * (float(new) - float(old))
    arrow = ":arrow_up:" if d > 0.05 else ":arrow_down:" if d < -0.05 else ":left_right_arrow:"
    return f"{arrow} {d:+.1f} pts"


def milestone_text(event: dict) -> str:
    kind = event.get("kind")
    if kind == "eval":
        metrics = (event.get("data") or {}).get("metrics") or {}
        parts = " · ".join(f"{k} {num(v)}" for k, v in metrics.items() if isinstance(v, (int, float)))
        return f":bar_chart: evaluation at step {event.get('step')} (epoch {num(event.get('epoch'), 3)}): {parts or '–'}"
    msg = event.get("message") or kind
    icon = ":checkered_flag:" if "finish" in msg else ":warning:" if ("fail" in msg or "stop" in msg) else ":pushpin:"
    return f"{icon} {esc(msg)}"


def runs_list(runs: list[dict]) -> tuple[str, list[dict]]:
    if not runs:
        return "No runs yet.", [section("No runs yet. Start one with `/ft train DATASET`.")]
    lines = [f"`#{r['id']}` {r['status']} · {esc(r['dataset'])} · {r['method']} α={num(r['loss_alpha'], 3)}"
             + (f" · acc {pct(r.get('accuracy'))} · F1 {pct(r.get('macro_f1'))}" if r.get("accuracy") is not None else "")
             for r in runs]
    return "Recent runs", sections("*Recent runs*", lines, more="`ftbot runs --limit N` lists more")


def run_status(run: dict) -> tuple[str, list[dict]]:
    text, blocks = status_message(run)
    if run.get("queue_position"):
        blocks.append(context(f"position {run['queue_position']} in the queue"))
    ev = run.get("events") or []
    if ev:
        blocks.append(context("\n".join(milestone_text(e) for e in ev[-5:])))
    if run.get("delivery_problem"):   # written by the notifier from Slack's refusal (bot/slack_calls.py)
        where = f" — its updates go to <#{run['delivery_channel']}> instead" if run.get("delivery_channel") else ""
        blocks.append(context(f":warning: Slack: {run['delivery_problem']}{where}"))
    return text, blocks


def datasets_list(rows: list[dict]) -> tuple[str, list[dict]]:
    if not rows:
        return "No datasets yet.", [section("No datasets yet. An admin can add one: share a CSV in a message "
                                            "that mentions me with `dataset add NAME`, or `/ft dataset add NAME PATH`.")]
    lines = [f"`{esc(d['name'])}` · {d['rows']} rows · {len(d['labels'])} labels · {d['kind']}" for d in rows]
    return f"Datasets ({len(rows)})", sections(f"*Datasets* ({len(rows)})", lines,
                                               more="`ftbot dataset list` shows them all")


def dataset_detail(d: dict) -> tuple[str, list[dict]]:
    labels = d.get("label_counts") or {}
    top = ", ".join(f"{esc(k)} ({v})" for k, v in sorted(labels.items(), key=lambda kv: -kv[1])[:15])
    more = f" … and {len(labels) - 15} more" if len(labels) > 15 else ""
    split = d.get("split") or {}
    lines = [f"*Dataset `{esc(d['name'])}`* · {d.get('format')} · {d.get('kind')} · {d['rows']} rows",
             f"*Labels ({len(d.get('labels') or labels)}):* {top}{more}",
             f"*Split:* train {split.get('train', '–')} / validation {split.get('validation', '–')}"
             f" (seed {split.get('seed', '–')})",
             f"*Columns:* text `{esc(d.get('text_column') or '–')}` · label `{esc(d.get('label_column'))}`"
             f" · answers for {d.get('answers', 0)} labels",
             "*PII:* " + pii_text(d.get("pii"), d.get("redacted"))]
    if d.get("protected"):
        lines.append("*Protected:* " + ", ".join(f"`{esc(p)}`" for p in d["protected"])
                     + " (fairness report; not model inputs unless `use_protected=yes`)")
    if d.get("sha256"):
        lines.append(f"*sha256:* `{d['sha256'][:16]}…`")
    if "feedback" in d:
        fb = d["feedback"] or {}
        lines.append(f"*Answer feedback:* :+1: {fb.get('up', 0)} · :-1: {fb.get('down', 0)}"
                     " (exportable as training rows: `ftbot dataset export-feedback`)")
    if d.get("runs") is not None:
        lines.append(f"*Runs:* {d['runs']}")
    for w in d.get("warnings") or []:
        lines.append(f":warning: {esc(w)}")
    return f"dataset {d['name']}", [section("\n".join(lines))]


def pii_text(pii, redacted=False) -> str:
    counts = (pii or {}).get("counts") if isinstance(pii, dict) else None
    if counts is None and isinstance(pii, dict):
        counts = {k: v for k, v in pii.items() if isinstance(v, int)}
    if not counts or not any(counts.values()):
        return "none found"
    found = ", ".join(f"{k} ×{v}" for k, v in counts.items() if v)
    return f":warning: {found}" + (" (redacted)" if redacted else " — not redacted; re-register with `redact=yes` if needed")


def compare_blocks(c: dict) -> tuple[str, list[dict]]:
    a, b = c["a"], c["b"]
    lines = [f"*Compare run #{a['id']} → run #{b['id']}*"]
    for k, v in (c.get("metrics") or {}).items():
        d = v.get("delta")
        lines.append(f"{k}: {num(v.get('a'))} → {num(v.get('b'))}" + (f" ({d:+.4f})" if d is not None else ""))
    diff = c.get("config_diff") or {}
    if diff:
        lines.append("*Settings that differ:* " + "; ".join(f"{esc(k)}: {esc(v['a'])} → {esc(v['b'])}"
                                                            for k, v in list(diff.items())[:20]))
    return f"compare #{a['id']} #{b['id']}", [section("\n".join(lines))]


def eval_blocks(r: dict) -> tuple[str, list[dict]]:
    text = (f"*Evaluation of run #{r.get('run_id')}* on {esc(r.get('evaluated_on'))} ({r.get('examples')} examples): "
            f"accuracy {pct(r.get('accuracy'))} · macro-F1 {pct(r.get('macro_f1'))}")
    return text, [section(text)]


# ---- Q&A ----------------------------------------------------------------------------------------------------
def answer(result: dict, human_group: str | None = None) -> tuple[str, list[dict]]:
    qid = str(result["question_id"])
    conf = result.get("confidence")
    meta = f"intent `{esc(result.get('intent'))}` · confidence {pct(conf)} · run #{result.get('run_id')}"
    blocks = [section(esc(result.get("answer") or "")), context(meta)]
    if result.get("fallback"):
        human = f"<!subteam^{human_group}>" if human_group else "a colleague"
        blocks.append(section(f":raising_hand: I'm not sure about this one. {human} can help — reply in this thread."))
    blocks.append({"type": "actions", "block_id": f"qa_{qid}", "elements": [
        button(":+1: Helpful", "qa_feedback_up", qid), button(":-1: Not helpful", "qa_feedback_down", qid)]})
    return cut(esc(result.get("answer") or ""), MAX_TEXT), blocks   # the fallback text is escaped like the blocks


# ---- home tab -----------------------------------------------------------------------------------------------
def home_view(runs: list[dict], deployments: list[dict], is_admin: bool) -> dict:
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "ftbot"}},
              section("Fine-tune transformer classifiers and ask them questions. `/ft help` lists the commands."
                      + ("" if is_admin else "\n_You can list runs, check status and ask; admins train and deploy._"))]
    blocks.append({"type": "divider"})
    if deployments:
        blocks.extend(sections(f"*Deployments* ({len(deployments)})", [
            f"• {('<#' + d['scope'] + '>') if d['scope'] != 'default' else '`default`'} → run #{d['run_id']}"
            f" (by <@{d['deployed_by']}>)" for d in deployments], more="`ftbot deployments` lists them all",
            max_blocks=40))
    else:
        blocks.append(section("*Deployments*\nnone yet"))
    blocks.extend(runs_list(runs)[1])
    return {"type": "home", "blocks": blocks}


# ---- train modal --------------------------------------------------------------------------------------------
MODAL_FIELDS = ("dataset", "base", "method", "alpha", "freeze", "epochs", "lr", "r")


def train_modal(datasets: list[str], private_metadata: str = "") -> dict:
    def text_input(block_id, label, placeholder, initial=None, optional=True):
        el = {"type": "plain_text_input", "action_id": "value",
              "placeholder": {"type": "plain_text", "text": placeholder}}
        if initial is not None:
            el["initial_value"] = initial
        return {"type": "input", "block_id": block_id, "optional": optional,
                "label": {"type": "plain_text", "text": label}, "element": el}

    if datasets:
        ds = {"type": "input", "block_id": "dataset", "label": {"type": "plain_text", "text": "Dataset"},
              "element": {"type": "static_select", "action_id": "value",
                          "options": [{"text": {"type": "plain_text", "text": n[:75]}, "value": n}
                                      for n in datasets[:100]]}}
    else:
        ds = text_input("dataset", "Dataset", "name of a registered dataset", optional=False)
    method = {"type": "input", "block_id": "method", "label": {"type": "plain_text", "text": "Method"},
              "element": {"type": "radio_buttons", "action_id": "value",
                          "initial_option": {"text": {"type": "plain_text", "text": "LoRA"}, "value": "lora"},
                          "options": [{"text": {"type": "plain_text", "text": "LoRA"}, "value": "lora"},
                                      {"text": {"type": "plain_text", "text": "Full fine-tuning"}, "value": "full"}]}}
    return {
        "type": "modal", "callback_id": "ft_train", "private_metadata": private_metadata,
        "title": {"type": "plain_text", "text": "Train a model"},
        "submit": {"type": "plain_text", "text": "Train"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [ds,
                   text_input("base", "Base model", "minilm, a local folder or a hub id", _default("base")),
                   method,
                   text_input("alpha", "α — weight of the pretraining loss (0–1)", "0 = plain fine-tuning",
                              _default("loss_alpha")),
                   text_input("freeze", "Frozen layers", "none, embeddings, 0-3 …", _default("freeze")),
                   text_input("epochs", "Epochs", "default: " + _by_kind("epochs")),
                   text_input("lr", "Learning rate", "default: " + _by_kind("lr")),
                   text_input("r", "LoRA rank", _default("r"))],
    }


def _default(attr: str) -> str:
    """A training key's default as the form shows it, read from the one defaults table (engine/config.py)."""
    from engine.config import DEFAULTS, FreezeSpec
    v = DEFAULTS["*"][attr]
    return v.describe() if isinstance(v, FreezeSpec) else f"{v:g}" if isinstance(v, float) else str(v)


def _by_kind(attr: str) -> str:
    """'15 text · 8/6 tabular (lora/full)'-style summary of a default that depends on the task kind and method."""
    from engine.config import METHODS, defaults_for
    parts = []
    for kind in ("text", "tabular"):
        vals = [f"{defaults_for(kind, m)[attr]:g}" for m in METHODS]
        parts.append(f"{kind} {vals[0] if len(set(vals)) == 1 else '/'.join(vals) + ' (' + '/'.join(METHODS) + ')'}")
    return " · ".join(parts)[:150]


def modal_values(view: dict) -> dict:
    """{block_id: value} from a submitted view (selects, radios and text inputs)."""
    out = {}
    for block_id, actions in ((view.get("state") or {}).get("values") or {}).items():
        el = actions.get("value") or next(iter(actions.values()), {})
        v = el.get("value")
        if v is None and el.get("selected_option"):
            v = el["selected_option"].get("value")
        if v is not None and str(v).strip() != "":
            out[block_id] = str(v).strip()
    return out
