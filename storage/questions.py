"""Questions asked of deployed models, and feedback on the answers."""
from __future__ import annotations

import sqlite3

from sqlite_utils import Database

from storage.db import dumps, loads, now, write
from storage.errors import Missing


def add(db: Database, **rec) -> int:
    rec = dict(rec)
    rec["top"] = dumps(rec.get("top") or [])
    rec["fallback"] = int(bool(rec.get("fallback")))
    rec.setdefault("created_at", now())
    with write(db):
        return db["questions"].insert(rec).last_pk


def get(db: Database, qid: int) -> dict:
    rows = list(db.query("SELECT * FROM questions WHERE id = ?", [int(qid)]))
    if not rows:
        raise Missing(f"no question #{qid}")
    r = dict(rows[0]); r["top"] = loads(r["top"], []); return r


def by_message(db: Database, channel: str, ts: str) -> dict | None:
    """The question whose answer thread is rooted at (channel, ts)."""
    rows = list(db.query("SELECT * FROM questions WHERE channel = ? AND (ts = ? OR thread_ts = ?) ORDER BY id DESC"
                         " LIMIT 1", [channel, ts, ts]))
    return dict(rows[0]) if rows else None


def add_feedback(db: Database, question_id: int, user: str, value: int, correct_label: str | None = None) -> None:
    """One vote per user per answer; a second vote replaces the first."""
    get(db, question_id)
    with write(db):
        db.execute("INSERT INTO feedback (question_id, user, value, correct_label, created_at) VALUES (?, ?, ?, ?, ?)"
                   " ON CONFLICT (question_id, user) DO UPDATE SET value = excluded.value,"
                   " correct_label = excluded.correct_label, created_at = excluded.created_at",
                   [int(question_id), user, int(value), correct_label, now()])


def feedback_counts(db: Database, dataset: str) -> dict:
    """👍/👎 counts for answers given by runs trained on `dataset`."""
    row = db.execute(
        "SELECT COALESCE(SUM(f.value = 1), 0), COALESCE(SUM(f.value = -1), 0) FROM feedback f"
        " JOIN questions q ON q.id = f.question_id JOIN runs r ON r.id = q.run_id WHERE r.dataset = ?",
        [dataset]).fetchone()
    return {"up": row[0], "down": row[1]}


def feedback_rows(db: Database, dataset: str) -> list[dict]:
    """Feedback as candidate training rows: 👍 keeps the predicted intent, 👎 with a correction uses it."""
    out = []
    for r in db.query(
            "SELECT q.question AS text, q.intent, f.value, f.correct_label FROM feedback f"
            " JOIN questions q ON q.id = f.question_id JOIN runs r ON r.id = q.run_id WHERE r.dataset = ?"
            " ORDER BY f.id", [dataset]):
        label = r["intent"] if r["value"] == 1 else r["correct_label"]
        if label:
            out.append({"text": r["text"], "label": label})
    return out


def feedback_by_question(db: Database, dataset: str) -> list[dict]:
    """One row per answered question with feedback, for runs trained on `dataset`: its text, predicted intent,
    👍 and 👎 counts, and the correction most 👎 voters gave (ties: the earliest)."""
    return [dict(r) for r in db.query(
        "SELECT q.id AS question_id, q.question AS text, q.intent, SUM(f.value = 1) AS up, SUM(f.value = -1) AS down,"
        " (SELECT f2.correct_label FROM feedback f2 WHERE f2.question_id = q.id AND f2.value = -1"
        "   AND f2.correct_label IS NOT NULL AND f2.correct_label != ''"
        "   GROUP BY f2.correct_label ORDER BY COUNT(*) DESC, MIN(f2.id) LIMIT 1) AS correction"
        " FROM feedback f JOIN questions q ON q.id = f.question_id JOIN runs r ON r.id = q.run_id"
        " WHERE r.dataset = ? GROUP BY q.id ORDER BY q.id", [dataset])]


def recent(db: Database, *, since: str, run_id: int | None = None, scope: str | None = None) -> list[dict]:
    """Intent, confidence and fallback of the questions answered since `since` (by one run, or in one scope)."""
    where, args = ["created_at >= ?"], [since]
    if run_id is not None:
        where.append("run_id = ?"); args.append(int(run_id))
    if scope is not None:
        where.append("scope = ?"); args.append(scope)
    return [dict(r) for r in db.query("SELECT intent, confidence, fallback FROM questions WHERE "
                                      + " AND ".join(where), args)]
