"""Schema, built only by appended migrations (m001_…). Never edit an applied migration: append a new one."""
from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("ftbot")


@migrations()
def m001_initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE datasets (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL,            -- where it came from (path, Slack file id)
            sha256 TEXT NOT NULL,            -- of the registered copy
            format TEXT NOT NULL,            -- csv | tsv | jsonl | parquet
            kind TEXT NOT NULL,              -- text | tabular
            text_column TEXT,
            label_column TEXT NOT NULL,
            rows INTEGER NOT NULL,
            labels TEXT NOT NULL,            -- JSON list
            label_counts TEXT NOT NULL,      -- JSON {label: n}
            split TEXT NOT NULL,             -- JSON {train, validation, seed, fraction}
            pii TEXT NOT NULL DEFAULT '{}',  -- JSON report {kind: count, examples: [...]}
            redacted INTEGER NOT NULL DEFAULT 0,
            answers INTEGER NOT NULL DEFAULT 0,  -- labels with an answer text
            path TEXT NOT NULL,              -- folder under FTBOT_HOME/datasets
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            dataset TEXT NOT NULL REFERENCES datasets(name),
            base TEXT NOT NULL,
            method TEXT NOT NULL CHECK (method IN ('lora', 'full')),
            loss_alpha REAL NOT NULL CHECK (loss_alpha BETWEEN 0 AND 1),
            pre_loss TEXT,                   -- resolved L_pre kind (mlm, causal, embedding, l2sp)
            freeze TEXT NOT NULL,
            config TEXT NOT NULL,            -- JSON: every resolved hyperparameter
            status TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
            reason TEXT,                     -- why failed/cancelled
            requester TEXT NOT NULL,
            origin TEXT NOT NULL DEFAULT '{}', -- JSON: where to report (slack channel, thread_ts)
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            heartbeat_at TEXT,
            worker TEXT,                     -- id of the worker holding it
            attempts INTEGER NOT NULL DEFAULT 0,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            progress TEXT,                   -- JSON: last progress snapshot
            trainable_params INTEGER,
            total_params INTEGER,
            artifact_path TEXT,
            checkpoint_path TEXT,
            accuracy REAL,
            macro_f1 REAL,
            metrics TEXT,                    -- JSON: final metrics incl. baseline, forgetting
            error TEXT
        );
        CREATE INDEX runs_status ON runs(status, id);
        CREATE INDEX runs_dataset ON runs(dataset, id);
        CREATE TABLE run_events (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            at TEXT NOT NULL,
            kind TEXT NOT NULL,              -- progress | eval | milestone
            step INTEGER,
            epoch REAL,
            loss REAL,
            loss_new REAL,
            loss_pre REAL,
            lr REAL,
            data TEXT,                       -- JSON: validation metrics, eta, message
            message TEXT
        );
        CREATE INDEX run_events_run ON run_events(run_id, id);
        CREATE TABLE deployments (
            id INTEGER PRIMARY KEY,
            scope TEXT NOT NULL,             -- 'default' or a Slack channel id
            run_id INTEGER NOT NULL REFERENCES runs(id),
            deployed_by TEXT NOT NULL,
            deployed_at TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1
        );
        CREATE INDEX deployments_scope ON deployments(scope, active);
        CREATE TABLE questions (
            id INTEGER PRIMARY KEY,
            scope TEXT,
            run_id INTEGER REFERENCES runs(id),
            asked_by TEXT NOT NULL,
            channel TEXT,
            ts TEXT,
            thread_ts TEXT,
            question TEXT NOT NULL,
            answer TEXT NOT NULL,
            intent TEXT,
            confidence REAL,
            top TEXT,                        -- JSON [[label, prob], ...]
            fallback INTEGER NOT NULL DEFAULT 0,
            latency_ms REAL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            question_id INTEGER NOT NULL REFERENCES questions(id),
            user TEXT NOT NULL,
            value INTEGER NOT NULL CHECK (value IN (-1, 1)),
            correct_label TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (question_id, user)
        );
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT,
            ok INTEGER NOT NULL DEFAULT 1,
            detail TEXT
        );
        CREATE TABLE slack_messages (
            key TEXT PRIMARY KEY,            -- e.g. run:7:status, run:7:milestone:eval:2, run:7:final
            run_id INTEGER,
            channel TEXT NOT NULL,
            ts TEXT,                         -- NULL while a post is in flight
            thread_ts TEXT,
            content_hash TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE seen_deliveries (
            key TEXT PRIMARY KEY,            -- event_id or channel:ts
            at TEXT NOT NULL
        );
        CREATE TABLE schedules (
            id TEXT PRIMARY KEY,             -- explicit job id, stable across restarts
            kind TEXT NOT NULL,              -- retrain | reeval
            target TEXT NOT NULL,            -- dataset name or deployment scope
            cron TEXT NOT NULL,
            options TEXT NOT NULL DEFAULT '{}',
            channel TEXT,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            enabled INTEGER NOT NULL DEFAULT 1,
            last_run_at TEXT
        );
        """
    )


@migrations()
def m002_privacy(db: Database) -> None:
    """Data protection: the channel a dataset was registered from (what a non-admin there may see) and indexes
    for retention's deletes by age."""
    db.executescript(
        """
        ALTER TABLE datasets ADD COLUMN channel TEXT;   -- Slack channel it was registered from; NULL: CLI/system
        CREATE INDEX IF NOT EXISTS questions_created ON questions(created_at);
        CREATE INDEX IF NOT EXISTS feedback_created ON feedback(created_at);
        CREATE INDEX IF NOT EXISTS feedback_question ON feedback(question_id);
        CREATE INDEX IF NOT EXISTS seen_deliveries_at ON seen_deliveries(at);
        CREATE INDEX IF NOT EXISTS run_events_at ON run_events(at);
        CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
        """
    )


@migrations()
def m003_delivery(db: Database) -> None:
    """Slack refusals: why a run's story could not reach its channel and where it goes instead (the requester's DM),
    and a log of replies that reached their requester only by a fallback path, or not at all."""
    db.executescript(
        """
        ALTER TABLE runs ADD COLUMN delivery_problem TEXT;   -- "could not post to <#C…>: not_in_channel — …"
        ALTER TABLE runs ADD COLUMN delivery_channel TEXT;   -- where the story goes instead (a DM id), if anywhere
        CREATE TABLE delivery_failures (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,              -- run | answer | reply | schedule | view
            ref TEXT,                        -- run id, question id, schedule id, …
            channel TEXT,                    -- where it was meant to go
            user TEXT,                       -- the requester
            method TEXT NOT NULL,            -- the Web API method that refused
            error TEXT NOT NULL,             -- Slack's error code
            path TEXT NOT NULL               -- how the requester heard instead: response_url | dm | none
        );
        CREATE INDEX delivery_failures_kind ON delivery_failures(kind, ref);
        """
    )


@migrations()
def m004_champion_challenger(db: Database) -> None:
    """Four-eyes promotion, challengers with shadow answers, one-step rollback (ops/promotion.py, ops/challengers.py)."""
    db.executescript(
        """
        ALTER TABLE deployments ADD COLUMN via TEXT NOT NULL DEFAULT 'deploy';  -- deploy | approval | rollback
        ALTER TABLE deployments ADD COLUMN request_id INTEGER;                  -- the approved deploy_requests row
        ALTER TABLE deployments ADD COLUMN restores_id INTEGER;                 -- rollback: the row it brings back
        ALTER TABLE deployments ADD COLUMN rolled_back_at TEXT;                 -- set when a rollback undid this row
        ALTER TABLE deployments ADD COLUMN rolled_back_by TEXT;
        CREATE TABLE deploy_requests (
            id INTEGER PRIMARY KEY,
            scope TEXT NOT NULL,
            run_id INTEGER NOT NULL,
            base_deployment_id INTEGER,      -- the champion when requested: approval applies only if it still is
            base_run_id INTEGER,
            requested_by TEXT NOT NULL,
            requested_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'superseded')),
            decided_by TEXT,
            decided_at TEXT,
            reason TEXT,
            report TEXT NOT NULL DEFAULT '{}',   -- JSON: the figures the approver saw
            channel TEXT,                        -- where the Approve/Reject message is (updated on decision)
            ts TEXT,
            deployment_id INTEGER                -- the deployments row an approval created
        );
        CREATE INDEX deploy_requests_scope ON deploy_requests(scope, status);
        CREATE TABLE challengers (
            id INTEGER PRIMARY KEY,
            scope TEXT NOT NULL,
            run_id INTEGER NOT NULL,
            champion_run_id INTEGER,
            started_by TEXT NOT NULL,
            started_at TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1,
            ended_at TEXT,
            ended_by TEXT,
            ended_reason TEXT,
            files TEXT NOT NULL DEFAULT '[]'     -- JSON: labelled files the team attached for the report
        );
        CREATE UNIQUE INDEX challengers_one_active ON challengers(scope) WHERE active = 1;
        CREATE TABLE shadow_answers (
            id INTEGER PRIMARY KEY,
            question_id INTEGER NOT NULL UNIQUE,
            challenger_id INTEGER NOT NULL,
            run_id INTEGER NOT NULL,
            answer TEXT NOT NULL,
            intent TEXT,
            confidence REAL,
            top TEXT,
            fallback INTEGER NOT NULL DEFAULT 0,
            latency_ms REAL,
            shown INTEGER NOT NULL DEFAULT 0,    -- 1: shown side by side (an A/B question)
            created_at TEXT NOT NULL
        );
        CREATE INDEX shadow_answers_challenger ON shadow_answers(challenger_id, id);
        CREATE TABLE shadow_feedback (
            id INTEGER PRIMARY KEY,
            shadow_id INTEGER NOT NULL,
            user TEXT NOT NULL,
            value INTEGER NOT NULL CHECK (value IN (-1, 1)),
            created_at TEXT NOT NULL,
            UNIQUE (shadow_id, user)
        );
        CREATE TABLE challenger_reports (
            id INTEGER PRIMARY KEY,
            challenger_id INTEGER NOT NULL,
            scope TEXT NOT NULL,
            channel TEXT,
            kind TEXT NOT NULL,                  -- daily | on_demand
            fire_key TEXT UNIQUE,                -- daily: schedule id + fire time (one post per fire)
            report TEXT NOT NULL,
            created_at TEXT NOT NULL,
            posted_ts TEXT,                      -- set once the Slack post went out
            claimed_at TEXT
        );
        """
    )


@migrations()
def m005_policy_and_scoring(db: Database) -> None:
    """The deploy approval policy kept in the database (not read per process), requests that change it (relaxing
    needs a second approver), and a record of every scored file (who, which file, which run, the drift measured).

    The policy is seeded once, here, from FTBOT_DEPLOY_APPROVAL of the process that creates (or first upgrades) the
    database; after that only an admin changes it, through `approval` (ops/policy.py), audited."""
    import os
    seed = (os.environ.get("FTBOT_DEPLOY_APPROVAL") or "optional").strip().lower()
    seed = seed if seed in ("required", "optional") else "required"     # a typo errs towards four eyes
    db.executescript(
        """
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            set_by TEXT NOT NULL,
            set_at TEXT NOT NULL
        );
        ALTER TABLE deploy_requests ADD COLUMN kind TEXT NOT NULL DEFAULT 'deploy';   -- deploy | policy
        ALTER TABLE deploy_requests ADD COLUMN payload TEXT NOT NULL DEFAULT '{}';    -- policy: {"deploy_approval": …}
        CREATE TABLE scorings (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL,
            scope TEXT,                      -- set when the model deployed in a scope was asked for
            scored_by TEXT NOT NULL,
            scored_at TEXT NOT NULL,
            file_name TEXT NOT NULL,
            file_sha256 TEXT NOT NULL,
            rows INTEGER NOT NULL,
            counts TEXT NOT NULL DEFAULT '{}',   -- JSON: rows per decision
            drift TEXT NOT NULL DEFAULT '{}',    -- JSON: score and column PSI against the training rows
            explanations TEXT NOT NULL DEFAULT '[]',  -- JSON: the first declined rows' reasons and flips (Slack's
                                                      -- Explain buttons); cleared by retention
            channel TEXT                         -- where it was asked from (Slack), for `/ft drift here`
        );
        CREATE INDEX scorings_run ON scorings(run_id, id);
        ALTER TABLE schedules ADD COLUMN last_note_at TEXT;   -- drift: when a quiet "nothing moved" line was posted
        """
    )
    db.execute("INSERT INTO settings (key, value, set_by, set_at) VALUES ('deploy_approval', ?, ?, "
               "strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))", [seed, "system:FTBOT_DEPLOY_APPROVAL"])


def migrate(db: Database) -> None:
    migrations.apply(db)
