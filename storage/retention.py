"""Retention: delete what is older than a cutoff (ISO timestamps compare as text: storage.db.now() writes UTC)."""
from __future__ import annotations

from sqlite_utils import Database

from storage.db import dumps, loads, write


def prune(db: Database, cutoff: str) -> dict:
    """Questions asked before `cutoff` (with all their feedback and a challenger's shadow answers to them), feedback
    given before it, seen deliveries and delivery-failure records, run events of finished runs, challenger reports
    and the question examples quoted in deploy requests, all from before it. One transaction: a crash leaves
    everything or nothing removed."""
    with write(db):
        # a challenger's shadow answers (and their votes) belong to the question they answered
        old_shadows = ("SELECT id FROM shadow_answers WHERE created_at < ? OR question_id IN"
                       " (SELECT id FROM questions WHERE created_at < ?)")
        sfb = db.execute(f"DELETE FROM shadow_feedback WHERE created_at < ? OR shadow_id IN ({old_shadows})",
                         [cutoff, cutoff, cutoff]).rowcount
        db.execute(f"DELETE FROM shadow_answers WHERE id IN ({old_shadows})", [cutoff, cutoff])
        fb = sfb + db.execute("DELETE FROM feedback WHERE created_at < ? OR question_id IN"
                        " (SELECT id FROM questions WHERE created_at < ?)", [cutoff, cutoff]).rowcount
        q = db.execute("DELETE FROM questions WHERE created_at < ?", [cutoff]).rowcount
        d = db.execute("DELETE FROM seen_deliveries WHERE at < ?", [cutoff]).rowcount
        # replies that reached their requester only by a fallback path name the requester and the channel
        d += db.execute("DELETE FROM delivery_failures WHERE at < ?", [cutoff]).rowcount
        # A run still queued or running keeps its events: the notifier and the watchdog read them.
        ev = db.execute("DELETE FROM run_events WHERE at < ? AND run_id NOT IN"
                        " (SELECT id FROM runs WHERE status IN ('queued', 'running'))", [cutoff]).rowcount
        # copies of questions: the examples a challenger report quotes, in the stored reports and in the deploy
        # requests they were attached to (the request itself, with its figures, stays: it is the approval record)
        reports = db.execute("DELETE FROM challenger_reports WHERE created_at < ?", [cutoff]).rowcount
        # an applicant's reasons shown behind a scored file's Explain buttons
        db.execute("UPDATE scorings SET explanations = '[]' WHERE scored_at < ? AND explanations != '[]'", [cutoff])
        requests = 0
        for row in list(db.query("SELECT id, report FROM deploy_requests WHERE requested_at < ? AND report LIKE ?",
                                 [cutoff, '%"examples"%'])):
            db.execute("UPDATE deploy_requests SET report = ? WHERE id = ?",
                       [dumps(without_examples(loads(row["report"], {}))), row["id"]])
            requests += 1
    return {"questions": q, "feedback": fb, "deliveries": d, "events": ev, "reports": reports,
            "requests": requests}


def without_examples(obj):
    """A report with every quoted question emptied (a list under "examples" becomes []), its figures kept — the
    example counts of a labelled file (an integer under "examples") included; readers still find the key."""
    if isinstance(obj, dict):
        return {k: [] if k == "examples" and isinstance(v, list) else without_examples(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [without_examples(v) for v in obj]
    return obj


def prune_audit(db: Database, cutoff: str) -> int:
    with write(db):
        return db.execute("DELETE FROM audit WHERE at < ?", [cutoff]).rowcount


def prune_deliveries(db: Database, prefix: str, cutoff: str) -> int:
    """Seen-delivery keys starting with `prefix` recorded before `cutoff` (short-lived keys, e.g. request
    signatures that only matter inside Slack's 5-minute window)."""
    with write(db):
        return db.execute("DELETE FROM seen_deliveries WHERE key LIKE ? AND at < ?",
                          [prefix.replace("%", "") + "%", cutoff]).rowcount
