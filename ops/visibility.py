"""Least privilege for reads: a Slack member who is not an admin sees what belongs to the channel where they ask —
runs started there, the run deployed there, datasets registered there (or trained by those runs) — and nothing of
other channels, private ones included. Admins, the CLI (the local account that owns FTBOT_HOME) and the job
runner see everything.

What a scoped viewer sees is also cleaned: no server paths (artifact and dataset folders, local base-model paths
are cut to their last part) and a failed run's error with internals (paths, tracebacks) is replaced by a reference
the operators can look up (`ftbot status RUN`, the worker log).

Something outside the viewer's channel answers exactly like something that does not exist, so names and ids of
other channels' work do not leak through error messages either.

`status`, `compare` and `show_dataset` are reached only through `Operations.run` (ops/facade.py), after
ops/access.authorize has refused a run or dataset of another channel (the command table's RUNS and DATASETS rules):
here they only shape what a scoped viewer reads.
"""
from __future__ import annotations

from storage import connect
from storage import visibility as table

from ops import datasets as datasets_ops
from ops import deployments as deployments_ops
from ops import runs as runs_ops
from ops.access import Actor, scoped
from ops.privacy import has_internals, scrub_paths
from ops.scopes import scope_for

_HIDDEN = ("artifact_path", "checkpoint_path", "path", "worker")


def _where(actor: Actor) -> tuple[str, str]:
    channel = actor.channel or ""
    return channel, scope_for(channel)


def list_runs(home, actor: Actor | None, limit: int = 15, dataset: str | None = None) -> list[dict]:
    if not scoped(actor):
        return runs_ops.list_recent(home, limit=limit, dataset=dataset)
    channel, scope = _where(actor)
    with connect(home) as db:
        return [clean_run(r) for r in table.runs(db, channel, scope, limit, dataset=dataset)]


def list_datasets(home, actor: Actor | None) -> list[dict]:
    if not scoped(actor):
        return datasets_ops.list_all(home)
    channel, scope = _where(actor)
    with connect(home) as db:
        return [_clean(d) for d in table.datasets(db, channel, scope)]


def show_dataset(home, actor: Actor | None, name: str) -> dict:
    # whether a scoped viewer may see this dataset was decided before the call (ops/access.authorize: DATASETS)
    row = datasets_ops.show(home, name)
    return _clean(row) if scoped(actor) else row


def status(home, actor: Actor | None, run_id) -> dict:
    # whether a scoped viewer may see this run was decided before the call (ops/access.authorize: RUNS)
    run = runs_ops.status(home, run_id)
    return clean_run(run) if scoped(actor) else run


def compare(home, actor: Actor | None, a, b) -> dict:
    # both runs were checked before the call (ops/access.authorize: RUNS)
    res = runs_ops.compare(home, a, b)
    return _clean(res) if scoped(actor) else res


def deployments(home, actor: Actor | None) -> list[dict]:
    if not scoped(actor):
        return deployments_ops.list_active(home)
    _, scope = _where(actor)
    with connect(home) as db:
        return table.deployments(db, scope)


def public_error(run: dict) -> str | None:
    """A run's error as a scoped viewer may read it: as is when it holds no internals, else a reference."""
    err = run.get("error")
    if err and has_internals(err):
        return (f"the run failed on the server (ref `run-{run['id']}`); an admin can read the details with "
                f"`ftbot status {run['id']}`")
    return err


def clean_run(run: dict) -> dict:
    run = dict(run)
    run["error"] = public_error(run)
    if run.get("reason") and has_internals(run["reason"]):
        run["reason"] = f"see ref `run-{run['id']}`"
    return _clean(run)


def _clean(obj):
    """A copy with server paths cut from every string and path fields dropped."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items() if k not in _HIDDEN}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_clean(v) for v in obj)
    if isinstance(obj, str):
        return scrub_paths(obj)
    return obj


def list_schedules(home, actor: Actor | None = None) -> list[dict]:
    """The schedules; a scoped viewer sees only those that post to their channel or act on its deployment."""
    from ops import schedules
    rows = schedules.list_schedules(home)
    if not scoped(actor):
        return rows
    channel, scope = _where(actor)
    return [r for r in rows if r.get("channel") == channel or (r["kind"] != "retrain" and r["target"] == scope)]
