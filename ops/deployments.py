"""Deployments: which run answers questions in a scope ('default' or a Slack channel id)."""
from __future__ import annotations

from engine.errors import NotFound
from storage import connect, deployments
from storage import runs as runs_table
from storage.errors import Conflict

from ops import access
from ops.access import Actor
from ops.scopes import DEFAULT_SCOPE


def deploy(home, run_id, *, scope: str = DEFAULT_SCOPE, actor: Actor | str, approval: str | None = None) -> dict:
    """Make the run answer in `scope` now. `approval` says in the audit row why no second person was asked."""
    with access.acting(home, actor, "deploy", f"run:{run_id}", scope=scope, approval=approval or "not asked"):
        with connect(home) as db:
            run = runs_table.get(db, run_id)
            if run["status"] != "succeeded" or not run.get("artifact_path"):
                raise Conflict(f"run #{run['id']} is {run['status']}; only a succeeded run can be deployed")
            dep = deployments.deploy(db, scope, run["id"], access.as_actor(actor).id)
    dep["run"] = run
    return dep


def active(home, scope: str) -> dict | None:
    with connect(home) as db:
        return deployments.active(db, scope)


def list_active(home) -> list[dict]:
    with connect(home) as db:
        return deployments.list_active(db)


def resolve_run(home, *, scope: str | None = None, run_id=None) -> dict:
    """The run that answers: an explicit run, else the deployment in `scope`, else the default scope."""
    with connect(home) as db:
        if run_id is not None:
            run = runs_table.get(db, run_id)
        else:
            dep = deployments.active(db, scope or DEFAULT_SCOPE) or deployments.active(db, DEFAULT_SCOPE)
            if not dep:
                where = f"in {scope}" if scope and scope != DEFAULT_SCOPE else "yet"
                raise NotFound(f"no model is deployed {where}; an admin can deploy one with `deploy RUN`")
            run = runs_table.get(db, dep["run_id"])
    if run["status"] != "succeeded" or not run.get("artifact_path"):
        raise Conflict(f"run #{run['id']} is {run['status']}; it has no model to ask yet")
    return run
