"""Challengers (a run answering beside a scope's champion, unseen), their shadow answers, per-model feedback on A/B
questions, and the reports waiting to be posted."""
from __future__ import annotations

import sqlite3

from sqlite_utils import Database

from storage.db import dumps, loads, now, write
from storage.errors import Conflict, Missing


def _row(r) -> dict:
    r = dict(r)
    for k, default in (("files", []), ("top", []), ("report", {})):
        if k in r:
            r[k] = loads(r[k], default)
    return r


def start(db: Database, *, scope: str, run_id: int, champion_run_id: int | None, started_by: str,
          files: list[str] | None = None) -> tuple[dict, dict | None]:
    """Attach `run_id` as the challenger of `scope`, ending the previous one (at most one active per scope: a
    unique partial index). Returns (new row, replaced row or None)."""
    at = now()
    try:
        with write(db):
            old = active(db, scope)
            if old:
                db.execute("UPDATE challengers SET active = 0, ended_at = ?, ended_by = ?, ended_reason = ? "
                           "WHERE id = ? AND active = 1", [at, started_by, f"replaced by run #{run_id}", old["id"]])
            pk = db["challengers"].insert({"scope": scope, "run_id": int(run_id), "champion_run_id": champion_run_id,
                                           "started_by": started_by, "started_at": at, "active": 1,
                                           "files": dumps(files or [])}).last_pk
    except sqlite3.IntegrityError as e:
        raise Conflict(f"another challenger was attached to {scope} at the same moment; look again") from e
    return get(db, pk), old


def get(db: Database, challenger_id: int) -> dict:
    rows = list(db.query("SELECT * FROM challengers WHERE id = ?", [int(challenger_id)]))
    if not rows:
        raise Missing(f"no challenger #{challenger_id}")
    return _row(rows[0])


def active(db: Database, scope: str) -> dict | None:
    """The scope's active challenger, with its run's artifact_path (None when the run row is gone)."""
    rows = list(db.query("SELECT c.*, r.artifact_path FROM challengers c LEFT JOIN runs r ON r.id = c.run_id"
                         " WHERE c.scope = ? AND c.active = 1", [scope]))
    return _row(rows[0]) if rows else None


def latest(db: Database, scope: str) -> dict | None:
    rows = list(db.query("SELECT * FROM challengers WHERE scope = ? ORDER BY active DESC, id DESC LIMIT 1", [scope]))
    return _row(rows[0]) if rows else None


def list_active(db: Database) -> list[dict]:
    return [_row(r) for r in db.query("SELECT * FROM challengers WHERE active = 1 ORDER BY scope")]


def end(db: Database, challenger_id: int, *, by: str, reason: str) -> bool:
    """End an active challenger; False when it had ended already (one outcome under races)."""
    with write(db):
        n = db.execute("UPDATE challengers SET active = 0, ended_at = ?, ended_by = ?, ended_reason = ? WHERE id = ?"
                       " AND active = 1", [now(), by, reason, int(challenger_id)]).rowcount
    return n == 1


def attach_file(db: Database, challenger_id: int, path: str) -> dict:
    with write(db):
        ch = get(db, challenger_id)
        files = [f for f in ch["files"] if f != path] + [path]
        db.execute("UPDATE challengers SET files = ? WHERE id = ?", [dumps(files), ch["id"]])
    return get(db, challenger_id)


# ---- shadow answers ---------------------------------------------------------------------------------------------
def add_shadow(db: Database, *, question_id: int, challenger_id: int, run_id: int, answer: str, intent: str,
               confidence: float, top, fallback: bool, latency_ms: float, shown: bool = False) -> dict:
    """Store the challenger's answer to a question (once: a second writer for the same question keeps the first)."""
    with write(db):
        db.execute("INSERT INTO shadow_answers (question_id, challenger_id, run_id, answer, intent, confidence, top,"
                   " fallback, latency_ms, shown, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                   " ON CONFLICT (question_id) DO NOTHING",
                   [int(question_id), int(challenger_id), int(run_id), answer, intent, float(confidence), dumps(top),
                    int(bool(fallback)), float(latency_ms), int(bool(shown)), now()])
        if shown:
            db.execute("UPDATE shadow_answers SET shown = 1 WHERE question_id = ?", [int(question_id)])
    return shadow_for(db, question_id)


def shadow_for(db: Database, question_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM shadow_answers WHERE question_id = ?", [int(question_id)]))
    return _row(rows[0]) if rows else None


def get_shadow(db: Database, shadow_id: int) -> dict:
    rows = list(db.query("SELECT * FROM shadow_answers WHERE id = ?", [int(shadow_id)]))
    if not rows:
        raise Missing(f"no challenger answer #{shadow_id}")
    return _row(rows[0])


def mark_shown(db: Database, question_id: int) -> None:
    with write(db):
        db.execute("UPDATE shadow_answers SET shown = 1 WHERE question_id = ?", [int(question_id)])


def add_shadow_feedback(db: Database, shadow_id: int, user: str, value: int) -> None:
    get_shadow(db, shadow_id)
    with write(db):
        db.execute("INSERT INTO shadow_feedback (shadow_id, user, value, created_at) VALUES (?, ?, ?, ?)"
                   " ON CONFLICT (shadow_id, user) DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
                   [int(shadow_id), user, int(value), now()])


def pairs(db: Database, challenger_id: int) -> list[dict]:
    """Each question the challenger answered, with the champion's answer beside it and the votes on each."""
    sql = """
        SELECT q.id AS question_id, q.question, q.created_at, q.run_id AS champion_run_id,
               q.intent AS champion_intent, q.confidence AS champion_confidence, q.fallback AS champion_fallback,
               s.id AS shadow_id, s.run_id AS challenger_run_id, s.intent AS challenger_intent,
               s.confidence AS challenger_confidence, s.fallback AS challenger_fallback, s.shown,
               (SELECT COALESCE(SUM(f.value = 1), 0) FROM feedback f WHERE f.question_id = q.id) AS champion_up,
               (SELECT COALESCE(SUM(f.value = -1), 0) FROM feedback f WHERE f.question_id = q.id) AS champion_down,
               (SELECT COALESCE(SUM(g.value = 1), 0) FROM shadow_feedback g WHERE g.shadow_id = s.id) AS challenger_up,
               (SELECT COALESCE(SUM(g.value = -1), 0) FROM shadow_feedback g WHERE g.shadow_id = s.id)
                   AS challenger_down
        FROM shadow_answers s JOIN questions q ON q.id = s.question_id
        WHERE s.challenger_id = ? ORDER BY q.id"""
    return [dict(r) for r in db.query(sql, [int(challenger_id)])]


# ---- reports waiting for Slack ------------------------------------------------------------------------------------
def add_report(db: Database, *, challenger_id: int, scope: str, channel: str | None, kind: str, report: dict,
               fire_key: str | None = None) -> dict | None:
    """Queue a report for posting; None when this fire_key was queued before (another process took the fire)."""
    with write(db):
        n = db.execute("INSERT INTO challenger_reports (challenger_id, scope, channel, kind, fire_key, report,"
                       " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fire_key) DO NOTHING",
                       [int(challenger_id), scope, channel, kind, fire_key, dumps(report), now()]).rowcount
        if n != 1:
            return None
        pk = db.execute("SELECT last_insert_rowid()").fetchone()[0]
    return _row(db["challenger_reports"].get(pk))


def claim_unposted(db: Database, stale_s: float = 300) -> list[dict]:
    """Reports with a channel and no post yet, claimed for this poster (a claim older than stale_s is retaken)."""
    import datetime as _dt
    at = now()
    stale = (_dt.datetime.fromisoformat(at) - _dt.timedelta(seconds=stale_s)).isoformat(timespec="microseconds")
    out = []
    with write(db):
        for r in list(db.query("SELECT * FROM challenger_reports WHERE posted_ts IS NULL AND channel IS NOT NULL AND"
                               " (claimed_at IS NULL OR claimed_at < ?) ORDER BY id", [stale])):
            n = db.execute("UPDATE challenger_reports SET claimed_at = ? WHERE id = ? AND posted_ts IS NULL AND"
                           " (claimed_at IS NULL OR claimed_at < ?)", [at, r["id"], stale]).rowcount
            if n == 1:
                out.append(_row(r))
    return out


def mark_posted(db: Database, report_id: int, ts: str) -> None:
    with write(db):
        db.execute("UPDATE challenger_reports SET posted_ts = ? WHERE id = ?", [ts, int(report_id)])


def release(db: Database, report_id: int) -> None:
    with write(db):
        db.execute("UPDATE challenger_reports SET claimed_at = NULL WHERE id = ? AND posted_ts IS NULL",
                   [int(report_id)])
