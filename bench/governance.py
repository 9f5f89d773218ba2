"""What a model-risk team reads of a credit run: fairness at the chosen threshold and drift, on German Credit.

What a user gets with the defaults, through the CLI as separate processes:
  ftbot dataset add german german_credit.csv --label-column risk --protected "age<25,personal_status_sex"
  ftbot train german                         (tabular defaults; protected columns are not model inputs)
  ftbot drift RUN --file validation.csv      (the run's own validation rows, label dropped: no drift expected)
  ftbot drift RUN --file shifted.csv         (the same rows, credit_amount × 2 and duration_months + 12)
  ftbot report RUN --out report.md
The fairness figures are the run's own (evaluated on its validation split at the cost-chosen threshold), with the
bootstrap intervals the report shows. Departure: the validation split is the product's default 20 % (140 rows), so
the intervals are wide — that is the point of printing them.

    python bench/governance.py [--threads 2] [--json]
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

PROTECTED = "age<25,personal_status_sex"


def ftbot(home: Path, *args: str) -> dict:
    env = {**os.environ, "FTBOT_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "bot", *args, "--json"], capture_output=True, text=True, env=env,
                         cwd=common.REPO, timeout=3600)
    if out.returncode != 0:
        raise SystemExit(f"ftbot {' '.join(args)} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def validation_rows(home: Path, dataset: str) -> list[dict]:
    """The run's validation rows as a user would have them in a file: every column, the label dropped."""
    sys.path.insert(0, str(common.REPO))
    from ops import datasets
    data = datasets.load(home, dataset)
    rows = []
    for raw, prot in zip(data.raw_validation, data.protected_validation or [{}] * len(data.raw_validation)):
        rows.append({**raw, **(prot or {})})
    return rows


def write(path: Path, rows: list[dict]) -> Path:
    cols = list(rows[0])
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)
    return path


def shifted(rows: list[dict]) -> list[dict]:
    """Larger loans over longer terms: what a new product line or a looser channel would bring."""
    return [{**r, "credit_amount": str(int(float(r["credit_amount"]) * 2)),
             "duration_months": str(int(float(r["duration_months"])) + 12)} for r in rows]


def drift_brief(d: dict) -> dict:
    return {"rows": d.get("rows"), "score_psi": round(d["score_psi"], 4) if d.get("score_psi") is not None else None,
            "score_band": d.get("score_band"),
            "columns_past_0.10": {c: round(v, 3) for c, v in (d.get("columns") or {}).items() if v >= 0.10},
            "beyond_noise": d.get("beyond_noise"), "noise_psi": d.get("noise_psi"), "caution": d.get("caution")}


def main(argv=None) -> int:
    args = common.parser(__doc__.splitlines()[0]).parse_args(argv)
    src = common.GERMAN_CREDIT
    if not src.exists():
        raise SystemExit(f"German Credit is not at {src}")
    tmp = Path(tempfile.mkdtemp(prefix="ftbot-bench-governance-"))
    home = tmp / "home"
    ds = ftbot(home, "dataset", "add", "german", str(src), "--label-column", "risk", "--protected", PROTECTED)
    common.log(f"registered {ds['rows']} rows: {ds['split']}")
    t = time.perf_counter()
    run = ftbot(home, "train", "german", "--no-progress", *(["--threads", str(args.threads)] if args.threads else []))
    train_s = time.perf_counter() - t
    run_id = str(run["run_id"])
    metrics = run.get("metrics") or {}
    fairness = metrics.get("fairness") or {}
    val = validation_rows(home, "german")
    d_val = ftbot(home, "drift", run_id, "--file", str(write(tmp / "validation.csv", val)))
    d_shift = ftbot(home, "drift", run_id, "--file", str(write(tmp / "shifted.csv", shifted(val))))
    rep = ftbot(home, "report", run_id, "--out", str(tmp / "report.md"))
    sel = metrics.get("selection") or {}
    out = {
        "machine": common.machine(),
        "run": {"run_id": run["run_id"], "train_s": round(train_s, 1), "served": run.get("served"),
                "roc_auc": metrics.get("roc_auc"), "expected_cost": metrics.get("expected_cost"),
                "threshold": metrics.get("threshold"), "blend_weight": sel.get("weight"),
                "scores": sel.get("scores")},
        "fairness": {name: {"adverse_impact_ratio": f.get("adverse_impact_ratio"), "air_interval": f.get("air_interval"),
                            "equal_opportunity_difference": f.get("equal_opportunity_difference"),
                            "eod_interval": f.get("eod_interval"), "flagged": f.get("flagged"),
                            "threshold": f.get("threshold"),
                            "groups": {g: {k: v for k, v in m.items() if k in ("n", "approval_rate", "tpr", "fpr")}
                                       for g, m in (f.get("groups") or {}).items()},
                            "note": f.get("note")}
                     for name, f in fairness.items()},
        "drift_validation_rows": drift_brief(d_val),
        "drift_shifted": {"shift": "credit_amount × 2, duration_months + 12", **drift_brief(d_shift)},
        "report": {"path": rep.get("out_path"), "warnings": rep.get("warnings")},
    }
    common.save("governance", out)
    common.emit(out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
