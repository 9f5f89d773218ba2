"""Retention: delete what is older than a cutoff (ISO timestamps compare as text: storage.db.now() writes UTC)."""
from __future__ import annotations

from sqlite_utils import Database

from storage.db import write


def prune(db: Database, cutoff: str) -> dict:
    """Questions asked before `cutoff` (with all their feedback and a challenger's shadow answers to them), feedback
    given before it, seen deliveries and
    delivery-failure records, and run events of finished runs recorded before it. One transaction: a crash leaves everything or nothing removed."""
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
    return {"questions": q, "feedback": fb, "deliveries": d, "events": ev}


def prune_audit(db: Database, cutoff: str) -> int:
    with write(db):
        return db.execute("DELETE FROM audit WHERE at < ?", [cutoff]).rowcount


def prune_deliveries(db: Database, prefix: str, cutoff: str) -> int:
    """Seen-delivery keys starting with `prefix` recorded before `cutoff` (short-lived keys, e.g. request
    signatures that only matter inside Slack's 5-minute window)."""
    with write(db):
        return db.execute("DELETE FROM seen_deliveries WHERE key LIKE ? AND at < ?",
                          [prefix.replace("%", "") + "%", cutoff]).rowcount
