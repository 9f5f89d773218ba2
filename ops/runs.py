"""Runs as people see them: submit (preview + queue), cancel, status, list, compare, evaluate.

A training request arrives already parsed (`TrainConfig.parse` at the edge); here it is resolved against the
dataset's kind — the defaults table fills what the request left out — and recorded. Execution lives in
ops/execution.py (the job runner's side).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from engine.config import TrainConfig
from storage import connect, events
from storage import datasets as dataset_table
from storage import runs as table
from storage.errors import Conflict

from ops import access
from ops import datasets as datasets_ops
from ops.access import Actor
from ops.paths import preview_cache


def resolve(home, dataset: str, request: TrainConfig) -> TrainConfig:
    """The request with the defaults for this dataset's kind filled in (no parsing: `request` is validated)."""
    if not isinstance(request, TrainConfig):
        raise TypeError("runs take a TrainConfig: parse the user's keys with TrainConfig.parse at the edge")
    with connect(home) as db:
        kind = dataset_table.get(db, dataset)["kind"]
    return request.resolved(kind)


def preview(home, dataset: str, config: TrainConfig, *, timed: bool = False) -> dict:
    """What would train — trainable parameters, frozen layers, α and its L_pre kind, rough time — without loading
    the model (engine/preview.py). Counts of a model shape seen before come from a small cache in FTBOT_HOME (no
    torch import at all); the time comes from the last finished run of this base and method when any."""
    from engine import preview as engine_preview

    data = datasets_ops.load(home, dataset)
    with connect(home) as db:
        speed = table.last_speed(db, config.base, config.method, config.device if config.device != "auto" else None)
    key = engine_preview.structure_key(config, data)
    cache = _read_cache(home)
    plan = engine_preview.preview(config, data, examples_per_s=speed, timed=timed, structure=cache.get(key))
    if key not in cache and not timed:
        _write_cache(home, {**cache, key: engine_preview.structure_of(plan)})
    return {**plan.to_dict(), "config": config.to_dict()}


def _read_cache(home) -> dict:
    try:
        return json.loads(preview_cache(home).read_text())
    except (OSError, ValueError):
        return {}


def _write_cache(home, cache: dict) -> None:
    """Atomic replace; a lost race only costs the next preview a meta build."""
    path = preview_cache(home)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(dict(list(cache.items())[-500:])))
        tmp.replace(path)
    except OSError:
        pass


def submit(home, dataset: str, request: TrainConfig, *, actor: Actor | str, origin: dict | None = None,
           with_plan: bool = True, timed: bool = False) -> dict:
    """Resolve the request, preview it, queue the run. Returns the run row with `plan` and `queue_position`."""
    if not isinstance(request, TrainConfig):
        raise TypeError("runs take a TrainConfig: parse the user's keys with TrainConfig.parse at the edge")
    with access.acting(home, actor, "train", None, dataset=dataset, options=request.given()) as note:
        config = resolve(home, dataset, request)
        the_plan = preview(home, dataset, config, timed=timed) if with_plan else {}
        with connect(home) as db:
            run = table.create(db, dataset=dataset, config=config.to_dict(), requester=access.as_actor(actor).id,
                               origin=origin, pre_loss=the_plan.get("pre_loss"))
            if the_plan:
                table.update(db, run["id"], trainable_params=the_plan.get("trainable_params"),
                             total_params=the_plan.get("total_params"))
            run = table.get(db, run["id"])
            run["queue_position"] = table.queue_position(db, run["id"])
        note["run"] = run["id"]
    run["plan"] = the_plan
    return run


def cancel(home, run_id, *, actor: Actor | str, reason: str | None = None) -> dict:
    a = access.as_actor(actor)
    with access.acting(home, a, "cancel", f"run:{run_id}") as note:
        with connect(home) as db:
            note["status"] = table.request_cancel(db, int(run_id), reason or f"cancelled by {a.id}")
            return table.get(db, run_id)


def status(home, run_id) -> dict:
    with connect(home) as db:
        run = table.get(db, run_id)
        run["queue_position"] = table.queue_position(db, run["id"])
        run["events"] = events.list_for(db, run["id"], kind="milestone")[-10:]
    return run


def list_recent(home, limit: int = 20, dataset: str | None = None) -> list[dict]:
    with connect(home) as db:
        return table.list_recent(db, limit=limit, dataset=dataset)


def previous(home, run: dict) -> dict | None:
    with connect(home) as db:
        return table.previous_succeeded(db, run["dataset"], run["id"])


def compare(home, a, b) -> dict:
    """Side-by-side: metrics with the difference b − a, and the config keys that differ."""
    with connect(home) as db:
        ra, rb = table.get(db, a), table.get(db, b)
    metrics = {}
    for key in ("accuracy", "macro_f1"):
        va, vb = ra.get(key), rb.get(key)
        metrics[key] = {"a": va, "b": vb, "delta": (vb - va) if va is not None and vb is not None else None}
    for key in ("roc_auc", "expected_cost", "forgetting"):
        va, vb = _metric(ra, key), _metric(rb, key)
        if va is not None or vb is not None:
            metrics[key] = {"a": va, "b": vb, "delta": (vb - va) if va is not None and vb is not None else None}
    ca, cb = ra["config"], rb["config"]
    diff = {k: {"a": ca.get(k), "b": cb.get(k)} for k in sorted(set(ca) | set(cb)) if ca.get(k) != cb.get(k)}
    return {"a": _brief(ra), "b": _brief(rb), "metrics": metrics, "config_diff": diff}


def _metric(run: dict, key: str):
    v = (run.get("metrics") or {}).get(key)
    if isinstance(v, dict):
        v = v.get("mean_cosine_drift", v.get("value"))
    return v if isinstance(v, (int, float)) else None


def _brief(run: dict) -> dict:
    return {k: run.get(k) for k in ("id", "dataset", "status", "base", "method", "loss_alpha", "freeze", "accuracy",
                                    "macro_f1")}


def _protected_rows(path: Path, data, n: int) -> list[dict] | None:
    """The protected attributes' values of a labelled file (None when the file lacks a protected column)."""
    if not data.protected:
        return None
    from engine.data.columns import find_column
    from engine.scoring import read_chunks
    cols = list(dict.fromkeys(p["column"] for p in data.protected))
    rows = []
    for header, chunk in read_chunks(path):
        found = {c: find_column(header, c) for c in cols}
        if any(f is None for f in found.values()):
            return None
        rows += [{c: r.get(f, "") for c, f in found.items()} for r in chunk]
    return rows if len(rows) == n else None


def evaluate(home, run_id, *, dataset: str | None = None, file=None, actor: Actor | str = "system:eval") -> dict:
    """Evaluate a finished run on a registered dataset (its validation split when it is the training set, all
    rows otherwise) or on a `text,label` file."""
    from engine.data import read_labeled_file
    from engine.evaluation.report import evaluate_examples

    with access.acting(home, actor, "eval", f"run:{run_id}") as note:
        with connect(home) as db:
            run = table.get(db, run_id)
        if run["status"] != "succeeded" or not run.get("artifact_path"):
            raise Conflict(f"run #{run['id']} is {run['status']}; only a succeeded run can be evaluated")
        trained_on = datasets_ops.load(home, run["dataset"])
        prot_rows = None
        if file is not None:
            examples = read_labeled_file(Path(file), like=trained_on)
            source = str(file)
            prot_rows = _protected_rows(Path(file), trained_on, len(examples))
        elif dataset and dataset != run["dataset"]:
            other = datasets_ops.load(home, dataset)
            examples = other.train + other.validation
            source = dataset
            if other.protected_train is not None:
                prot_rows = list(other.protected_train) + list(other.protected_validation or [])
        else:
            examples, source = trained_on.validation, f"{run['dataset']} (validation split)"
            prot_rows = trained_on.protected_validation
        result = evaluate_examples(run["artifact_path"], examples, protected=trained_on.protected,
                                   protected_rows=prot_rows)
        result.update(run_id=run["id"], evaluated_on=source, examples=len(examples))
        note.update(on=source, accuracy=result.get("accuracy"))
    return result
