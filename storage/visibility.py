"""What one Slack channel may see: the runs started there, the run deployed there, the datasets registered there
or trained by those runs. The rule itself (who is scoped) is ops/visibility.py's; these are its queries."""
from __future__ import annotations

from sqlite_utils import Database

from storage import datasets as datasets_table
from storage import runs as runs_table

_RUNS_IN = ("(json_extract(origin, '$.channel') = :channel"
            " OR id IN (SELECT run_id FROM deployments WHERE scope = :scope AND active = 1))")


def runs(db: Database, channel: str, scope: str, limit: int = 20, dataset: str | None = None) -> list[dict]:
    """The channel's latest runs (of `dataset` only, when given: filtered before the limit)."""
    only = " AND dataset = :dataset" if dataset is not None else ""
    return [runs_table._decode(r) for r in db.query(
        f"SELECT * FROM runs WHERE {_RUNS_IN}{only} ORDER BY id DESC LIMIT :limit",
        {"channel": channel, "scope": scope, "limit": int(limit), "dataset": dataset})]


def run_visible(db: Database, run_id: int, channel: str, scope: str) -> bool:
    return bool(list(db.query(f"SELECT 1 FROM runs WHERE id = :id AND {_RUNS_IN}",
                              {"id": int(run_id), "channel": channel, "scope": scope})))


def datasets(db: Database, channel: str, scope: str) -> list[dict]:
    return [datasets_table._decode(r) for r in db.query(
        "SELECT * FROM datasets WHERE channel = :channel OR name IN"
        f" (SELECT dataset FROM runs WHERE {_RUNS_IN}) ORDER BY created_at DESC, id DESC",
        {"channel": channel, "scope": scope})]


def dataset_visible(db: Database, name: str, channel: str, scope: str) -> bool:
    return bool(list(db.query(
        "SELECT 1 FROM datasets WHERE name = :name AND (channel = :channel OR name IN"
        f" (SELECT dataset FROM runs WHERE {_RUNS_IN}))", {"name": name, "channel": channel, "scope": scope})))


def deployments(db: Database, scope: str) -> list[dict]:
    return [dict(r) for r in db.query("SELECT * FROM deployments WHERE active = 1 AND scope = ? ORDER BY scope",
                                      [scope])]
