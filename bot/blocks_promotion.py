"""Block Kit for champions and challengers: the approval request, A/B answers, the challenger report, the deployment
history. Pure functions from the operations layer's dicts to (text, blocks)."""
from __future__ import annotations

from bot.blocks import MAX_TEXT, button, context, esc, pct, section


def _where(scope: str) -> str:
    return "as the workspace default" if scope == "default" else f"in <#{scope}>"


def _kind(req: dict) -> str:
    return "Policy request" if req.get("kind") == "policy" else "Deploy request"


def _mode(req: dict):
    """The deploy approval mode a policy request asks for."""
    return (req.get("payload") or {}).get("deploy_approval")


def _conf(v) -> str:
    return "–" if v is None else f"{float(v):.2f}"


def figures_lines(rep: dict) -> list[str]:
    """The report's headline figures as mrkdwn lines (shared by the request message and the report)."""
    if not rep:
        return []
    if rep.get("error"):
        return [f"_{esc(rep['error'])}_"]
    if "questions" in rep:
        lines = [f"*{rep['questions']}* questions seen · agreement *{pct(rep['agreement'])}*"]
        for who in ("champion", "challenger"):
            s = rep[who]
            lines.append(f"{who}: fallback {pct(s['fallback_rate'])} · mean confidence {_conf(s['mean_confidence'])}")
        for ds in rep.get("labelled") or []:
            if "champion" in ds:
                lines.append(f"{esc(ds['name'])} ({ds['examples']}): accuracy {pct(ds['champion']['accuracy'])} → "
                             f"{pct(ds['challenger']['accuracy'])} · macro-F1 {pct(ds['champion']['macro_f1'])} → "
                             f"{pct(ds['challenger']['macro_f1'])}"
                             + (f" _({esc(ds['not_held_out'])})_" if ds.get("not_held_out") else ""))
        return lines
    lines = [f"candidate run #{rep.get('candidate_run_id')}: accuracy {pct(rep.get('candidate_accuracy'))} · "
             f"macro-F1 {pct(rep.get('candidate_macro_f1'))}"]
    if rep.get("current_run_id"):
        lines.append(f"current run #{rep['current_run_id']}: accuracy {pct(rep.get('current_accuracy'))} · "
                     f"macro-F1 {pct(rep.get('current_macro_f1'))}")
    return lines


def _what(req: dict) -> str:
    if req.get("kind") == "policy":
        return f"set deploy approval to *{_mode(req)}*"
    return f"run #{req['run_id']} to answer questions {_where(req['scope'])}"


def request_effect(req: dict) -> str:
    """What an approved request changed, in words."""
    if req.get("kind") == "policy":
        return f"deploy approval is now *{_mode(req)}*"
    return f"run #{req['run_id']} now answers questions {_where(req['scope'])}"


def request_message(req: dict) -> tuple[str, list[dict]]:
    rid = str(req["id"])
    kind = _kind(req)
    head = (f":hourglass: *{kind} #{rid}*: {_what(req)}"
            + (f", replacing run #{req['base_run_id']}" if req.get("base_run_id") else "")
            + f" — asked by {_who(req['requested_by'])}")
    blocks = [section(head)]
    lines = figures_lines(req.get("report") or {})
    if lines:
        blocks.append(section("\n".join(lines)))
    blocks.append(context(f"Needs an approver other than the requester (four eyes) · expires "
                          f"{req['expires_at'][:16].replace('T', ' ')} UTC"))
    blocks.append({"type": "actions", "block_id": f"deploy_request_{rid}", "elements": [
        button("Approve", "promotion_approve", rid, "primary"), button("Reject", "promotion_reject", rid, "danger")]})
    return f"{kind} #{rid}: {_what(req)} (pending approval)", blocks


def request_decided(req: dict) -> tuple[str, list[dict]]:
    icon = {"approved": ":white_check_mark:", "rejected": ":x:", "expired": ":hourglass:"}.get(req["status"],
                                                                                             ":grey_question:")
    by = f" by {_who(req['decided_by'])}" if req.get("decided_by") else ""
    kind = _kind(req)
    text = (f"{icon} {kind} #{req['id']} ({_what(req)}, asked by {_who(req['requested_by'])}) {req['status']}{by}")
    if req.get("reason"):
        text += f": {esc(req['reason'])}"
    blocks = [section(text)]
    lines = figures_lines(req.get("report") or {})
    if lines:
        blocks.append(context("\n".join(lines)))
    return text, blocks


def _who(actor_id: str | None) -> str:
    if not actor_id:
        return "–"
    return f"<@{actor_id}>" if actor_id[:1] in ("U", "W") else f"`{esc(actor_id)}`"


def ab_answer(ab: dict) -> tuple[str, list[dict]]:
    """Champion and challenger side by side, with 👍/👎 for each model."""
    c, s = ab["champion"], ab["challenger"]

    def field(title: str, a: dict) -> dict:
        note = " · fallback" if a["fallback"] else ""
        text = f"*{title}* (run #{a['run_id']})\n{esc(a['answer'] or '')[:1500]}\n_`{esc(a['intent'])}` · " \
               f"{pct(a['confidence'])}{note}_"
        return {"type": "mrkdwn", "text": text[:2000]}
    qid, sid = str(c["question_id"]), str(s["shadow_id"])
    verdict = ":handshake: they agree" if ab["agree"] else ":left_right_arrow: they disagree"
    blocks = [section(f"*A/B* — {esc(ab['question'][:300])}"),
              {"type": "section", "fields": [field("Champion", c), field("Challenger", s)]},
              context(f"{verdict} · only testers see the challenger; customers get the champion's answer"),
              {"type": "actions", "block_id": f"ab_champion_{qid}", "elements": [
                  button(":+1: Champion", "qa_feedback_up", qid), button(":-1: Champion", "qa_feedback_down", qid)]},
              {"type": "actions", "block_id": f"ab_challenger_{sid}", "elements": [
                  button(":+1: Challenger", "ab_feedback_up", sid),
                  button(":-1: Challenger", "ab_feedback_down", sid)]}]
    return f"A/B: champion says {c['intent']}, challenger says {s['intent']}", blocks


def challenger_started(row: dict, user: str) -> str:
    text = (f":crossed_swords: run #{row['run_id']} now challenges run #{row['champion_run_id']} "
            f"{_where(row['scope'])} (by <@{user}>): it answers every question in the background, unseen. "
            "Testers: `/ft ask --ab …` or reply `ab` in an answer thread; figures: `/ft challenge report`.")
    if row.get("replaced"):
        text += f" It replaces challenger run #{row['replaced']['run_id']}."
    return text


def report(rep: dict, daily: bool = False) -> tuple[str, list[dict]]:
    title = ("Daily challenger report" if daily else "Challenger report") + \
        f": run #{rep['challenger_run_id']} vs champion run #{rep['champion_run_id']} {_where(rep['scope'])}"
    if not rep["active"]:
        title += f" (ended: {esc(rep.get('ended_reason') or '')})"
    blocks = [section(f"*{title}*"), section("\n".join(figures_lines(rep)))]
    ab = rep["ab"]
    blocks.append(section(f"A/B questions: {ab['questions']} · champion :+1: {ab['champion']['up']} :-1: "
                          f"{ab['champion']['down']} · challenger :+1: {ab['challenger']['up']} :-1: "
                          f"{ab['challenger']['down']}"))
    if rep["disagreements"]:
        lines = ["*Where they disagree most*"]
        for d in rep["disagreements"]:
            lines.append(f"• `{esc(d['intent'])}`: {d['disagree']}/{d['questions']} ({pct(d['rate'])}), challenger "
                         f"says `{esc(d['challenger_says'])}`")
            lines += [f"    _“{esc(e['question'])}”_" for e in d["examples"]]
        blocks.append(section("\n".join(lines)[:MAX_TEXT]))
    blocks.append(context("Agreement and confidence over time are charted in the thread. Promote with "
                          "`/ft promote`; an approver other than you approves."))
    return title, blocks


def history(h: dict) -> tuple[str, list[dict]]:
    lines = [f"*Deployments* · approval {h['approval']}"]
    for p in h["pending"]:
        lines.append(f":hourglass: request #{p['id']}: run #{p['run_id']} {_where(p['scope'])}, asked by "
                     f"{_who(p['requested_by'])}, expires {p['expires_at'][:16].replace('T', ' ')} UTC")
    for c in h["challengers"]:
        lines.append(f":crossed_swords: challenger run #{c['run_id']} {_where(c['scope'])} since "
                     f"{c['started_at'][:16].replace('T', ' ')}")
    for d in h["deployments"]:
        state = "*active*" if d["active"] else ("rolled back" if d.get("rolled_back_at") else "superseded")
        how = {"approval": f"approved (request #{d.get('request_id')})", "rollback": "rollback"}.get(
            d.get("via") or "", "deploy")
        lines.append(f"• {d['deployed_at'][:16].replace('T', ' ')} {_where(d['scope'])}: run #{d['run_id']} — {how} "
                     f"by {_who(d['deployed_by'])} — {state}")
    if len(lines) == 1:
        lines.append("nothing deployed yet")
    return "Deployments", [section("\n".join(lines)[:MAX_TEXT])]
