"""Putting a credit model to work: score a file of applicants with a run's served model (or the one deployed in a
scope) — probability, decision, principal reasons per row — and explain one applicant. Scoring is an admin action,
audited with who, which file (sha256), how many rows and which run; every scored file is recorded with its drift.
Text runs score a backlog of questions instead: intent, confidence, and whether a human would be asked."""
from __future__ import annotations

from pathlib import Path

from engine.errors import DatasetError, NotFound
from storage import connect
from storage import scorings as table
from storage.errors import Conflict

from ops import access
from ops.access import Actor
from ops.deployments import resolve_run


def _run(home, run_id, scope: str | None) -> dict:
    run = resolve_run(home, scope=scope, run_id=None if scope else run_id)
    if scope and run_id is not None and int(run["id"]) != int(run_id):
        raise Conflict(f"run #{run_id} is not the model deployed in {scope} (run #{run['id']} is); drop --scope to "
                       f"score with run #{run_id}")
    if not run.get("artifact_path") or not Path(run["artifact_path"]).is_dir():
        raise NotFound(f"run #{run['id']} has no model folder any more")
    return run


def _file(path) -> Path:
    if path is None:
        raise DatasetError(["no file given; give the CSV, TSV or JSONL file of rows to score"])
    p = Path(path)
    if not p.is_file():
        raise DatasetError([f"no file {p.name}; give the path of the CSV, TSV or JSONL file to score"])
    return p


def score(home, run_id, path=None, *, out=None, id_column: str | None = None, scope: str | None = None,
          actor: Actor | str, channel: str | None = None, reasons: bool = True, explain_first: int = 0) -> dict:
    """Score `path` into `out` (default: beside the input, `<name>.scored.csv`). → the summary (engine/scoring.py)
    with run_id, scoring_id, file_sha256. `explain_first`: also explain the first N declined rows in full (reasons
    and the smallest change that flips them), kept with the record for Slack's Explain buttons."""
    from engine.data.prepare import file_sha256
    from engine.scoring import score_file
    from engine.served.model import ServedModel
    src = _file(path)
    out = Path(out) if out else src.with_name(f"{src.stem}.scored.csv")
    with access.acting(home, actor, "score", f"run:{run_id}", file=src.name, scope=scope) as note:
        run = _run(home, run_id, scope)
        sha = file_sha256(src)
        note.update(run_id=run["id"], file_sha256=sha)
        served = ServedModel.load(run["artifact_path"])
        res = score_file(served, src, out, id_column=id_column, reasons=reasons,
                         drift=served.drift_reference() if served.inputs.kind == "tabular" else None)
        explained = _explain_first(served, src, res, explain_first) if explain_first else []
        with connect(home) as db:
            row = table.add(db, run_id=run["id"], scope=scope, scored_by=access.as_actor(actor).id,
                            file_name=src.name, file_sha256=sha, rows=res["rows"], counts=res.get("counts") or {},
                            drift=_drift_brief(res.get("drift")), channel=channel, explanations=explained)
        note.update(rows=res["rows"], counts=res.get("counts"))
    return {"run_id": run["id"], "scoring_id": row["id"], "file_sha256": sha, **res}


def explain(home, run_id, path=None, *, row: int, actor: Actor | str) -> dict:
    """One applicant (row N, 1-based, of the file): probability, decision, reasons and the smallest change that
    would flip the decision, or that none would."""
    from engine.scoring import plan_columns, read_chunks, read_header, rows_at
    from engine.served.model import ServedModel
    src = _file(path)
    with access.acting(home, actor, "score.explain", f"run:{run_id}", file=src.name, row=row):
        run = _run(home, run_id, None)
        served = ServedModel.load(run["artifact_path"])
        if plan_columns(served, read_header(src), None).kind != "tabular":
            raise DatasetError(["reasons are given for table (credit) runs; this run answers questions"])
        if int(row) < 1:
            raise DatasetError([f"--row {row}: rows are numbered from 1"])
        found = rows_at(served, src, [int(row)])
        if int(row) not in found:       # inside the audited block: a row past the end is a refusal, audited so
            raise DatasetError([f"--row {row}: the file has {sum(len(c) for _, c in read_chunks(src))} rows"])
        return {"run_id": run["id"], "row": int(row), **served.explain_one(found[int(row)])}


def _explain_first(served, src: Path, res: dict, n: int) -> list[dict]:
    from engine.scoring import rows_at
    if res.get("kind") != "tabular" or not res.get("declined"):
        return []
    first = res["declined"][:n]
    rows = rows_at(served, src, [d["n"] for d in first])
    return [{"row": d["row"], **served.explain_one(rows[d["n"]])} for d in first if d["n"] in rows]


def explanation(home, scoring_id: int, index: int, *, actor: Actor | str) -> dict:
    """One of the declined rows explained when a file was scored (Slack's Explain button)."""
    with access.acting(home, actor, "score.explain", f"scoring:{scoring_id}", index=index):
        with connect(home) as db:
            rec = table.get(db, scoring_id)
        items = rec.get("explanations") or []
        if not 0 <= int(index) < len(items):
            raise NotFound(f"scored file #{scoring_id} has no explanation #{index + 1} (kept for "
                           "FTBOT_RETENTION_DAYS; score the file again for more)")
        return {"scoring_id": rec["id"], "run_id": rec["run_id"], "file_name": rec["file_name"], **items[int(index)]}


def _drift_brief(drift: dict | None) -> dict:
    if not drift:
        return {}
    return {k: drift.get(k) for k in ("score_psi", "score_band", "columns", "bands", "flagged", "beyond_noise", "rows",
                                  "noise_psi", "caution")}


def last_scoring(home, run_id) -> dict | None:
    with connect(home) as db:
        return table.latest(db, run_id)
