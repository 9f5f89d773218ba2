"""A credit model put to work from the CLI: register with protected attributes, train, then `ftbot score`,
`explain`, `drift`, `eval --file` (fairness), `report` and the approval policy — --json shapes, refusals that write
nothing, the audit trail."""
from __future__ import annotations

import csv
import json

import pytest

from bot.cli import main
from storage import connect
from tests.engine.test_scoring import _rows, _write


def cli(capsys, home, *argv) -> tuple[int, dict | None, str]:
    code = main([str(a) for a in argv] + ["--home", str(home)])
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    try:
        obj = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        obj = None
    return code, obj, out.err + out.out


@pytest.fixture(scope="module")
def credit_home(tiny_bert, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("credit-cli")
    home = tmp / "home"
    src = _write(tmp / "credit.csv", _rows(240, 1))
    assert main(["dataset", "add", "credit", str(src), "--label-column", "risk", "--protected", "age<30",
                 "--home", str(home), "--json"]) == 0
    assert main(["train", "credit", "--base", str(tiny_bert), "--epochs", "1", "--max-length", "48", "--threads", "1",
                 "--no-progress", "--home", str(home), "--json"]) == 0
    return tmp, home


def test_score_writes_the_file_and_prints_the_summary(credit_home, capsys):
    tmp, home = credit_home
    src = _write(tmp / "applicants.csv", [{"application_id": f"A{i}", **r} for i, r in enumerate(_rows(50, 3))])
    out = tmp / "scored.csv"
    code, res, err = cli(capsys, home, "score", "1", src, "--out", out, "--id-column", "application_id", "--json")
    assert code == 0, err
    for key in ("run_id", "rows", "positive_label", "threshold", "counts", "out_path", "seconds", "drift"):
        assert key in res, key
    assert res["rows"] == 50 and res["positive_label"] == "bad" and res["out_path"] == str(out)
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["application_id"] for r in rows] == [f"A{i}" for i in range(50)]
    assert list(rows[0]) == ["application_id", "probability", "decision", "reason_1", "reason_2", "reason_3",
                             "reason_4"]
    with connect(home) as db:
        audit = [dict(r) for r in db.query("SELECT * FROM audit WHERE action = 'score'")]
        scored = [dict(r) for r in db.query("SELECT * FROM scorings")]
    detail = json.loads(audit[-1]["detail"])
    assert audit[-1]["ok"] == 1 and detail["rows"] == 50 and len(detail["file_sha256"]) == 64
    assert audit[-1]["actor"].startswith("cli:") and audit[-1]["target"] == "run:1"
    assert scored[-1]["rows"] == 50 and scored[-1]["file_sha256"] == detail["file_sha256"]


def test_a_missing_column_exits_2_naming_it_and_writes_nothing(credit_home, capsys):
    tmp, home = credit_home
    src = _write(tmp / "broken.csv", [{k: v for k, v in r.items() if k != "duration"} for r in _rows(5, 1)])
    code, _, err = cli(capsys, home, "score", "1", src, "--out", tmp / "never.csv")
    assert code == 2 and "missing column duration" in err and "reads the columns" in err
    assert not (tmp / "never.csv").exists()


def test_explain_one_applicant(credit_home, capsys):
    tmp, home = credit_home
    rows = _rows(30, 8)
    src = _write(tmp / "one.csv", rows)
    code, res, err = cli(capsys, home, "explain", "1", src, "--row", "2", "--json")
    assert code == 0, err
    assert res["row"] == 2 and res["decision"] in ("bad", "good") and res["flip_words"]
    code, _, err = cli(capsys, home, "explain", "1", src, "--row", "31")
    assert code == 2 and "has 30 rows" in err
    with connect(home) as db:       # the refusal is audited as one, not as an explanation given
        last = db.execute("SELECT ok, detail FROM audit WHERE action = 'score.explain' ORDER BY id DESC").fetchone()
    assert last[0] == 0 and "31" in last[1]


def test_drift_of_a_shifted_file(credit_home, capsys):
    tmp, home = credit_home
    shifted = [{**r, "duration": str(int(r["duration"]) * 3)} for r in _rows(300, 5)]
    code, res, err = cli(capsys, home, "drift", "1", "--file", _write(tmp / "shifted.csv", shifted), "--json")
    assert code == 0, err
    assert res["bands"]["duration"] == "significant" and res["score_psi"] is not None and "columns" in res


def test_eval_on_a_labelled_file_has_the_fairness_report(credit_home, capsys):
    tmp, home = credit_home
    code, res, err = cli(capsys, home, "eval", "1", "--file", _write(tmp / "labelled.csv", _rows(120, 6)), "--json")
    assert code == 0, err
    f = res["fairness"]["age<30"]
    for key in ("groups", "adverse_impact_ratio", "air_interval", "equal_opportunity_difference"):
        assert key in f
    assert set(f["groups"]) <= {"age<30", "age≥30"}


def test_the_validation_report(credit_home, capsys):
    tmp, home = credit_home
    out = tmp / "report.md"
    code, res, err = cli(capsys, home, "report", "1", "--out", out, "--json")
    assert code == 0, err
    text = out.read_text()
    for section in ("## Intended use and limits", "## What answers", "## Data lineage", "## Method",
                    "## Results on held-out validation rows", "## Fairness by protected attribute", "## Stability",
                    "## Monitoring plan", "## Approval history", "## How to reproduce"):
        assert section in text, section
    assert "age<30" in text and "sha256" in text and "ftbot train credit" in text


def test_the_reports_commands_rebuild_the_same_data_and_model(credit_home, capsys, tmp_path):
    """'How to reproduce' is not prose: its two commands, run in a new home on the source file, give the same stored
    data (sha256, split, protected attributes) and the same model (config and validation figures on this CPU)."""
    import shlex
    tmp, home = credit_home
    assert main(["report", "1", "--out", str(tmp_path / "r.md"), "--home", str(home)]) == 0
    block = (tmp_path / "r.md").read_text().split("## How to reproduce")[1].split("```")[1]
    add, train = [shlex.split(line) for line in block.strip().splitlines()]
    assert add[:3] == ["ftbot", "dataset", "add"] and train[:2] == ["ftbot", "train"]
    add[4] = str(tmp / add[4])                     # the source file by its name: here, where the fixture wrote it
    new = tmp_path / "home2"
    capsys.readouterr()
    code, ds, err = cli(capsys, new, *add[1:], "--json")
    assert code == 0, err
    code, first, _ = cli(capsys, home, "dataset", "show", "credit", "--json")
    for key in ("sha256", "split", "protected", "label_column", "rows"):
        assert ds[key] == first[key], key
    code, run, err = cli(capsys, new, *train[1:], "--no-progress", "--json")
    assert code == 0, err
    code, old, _ = cli(capsys, home, "status", "1", "--json")
    # the command names the L_pre the first run resolved `auto` to: the same loss, spelled out
    assert {k: v for k, v in run["config"].items() if k != "pre_loss"} == \
        {k: v for k, v in old["config"].items() if k != "pre_loss"} and run["pre_loss"] == old["pre_loss"]
    assert run["metrics"]["roc_auc"] == old["metrics"]["roc_auc"]


def test_protected_attribute_refusals(credit_home, capsys, tmp_path):
    tmp, home = credit_home
    src = _write(tmp_path / "c.csv", _rows(60, 2))
    code, _, err = cli(capsys, home, "dataset", "add", "c1", src, "--label-column", "risk", "--protected", "income<30")
    assert code == 2 and 'protected column "income" is not in the file' in err
    code, _, err = cli(capsys, home, "dataset", "add", "c2", src, "--label-column", "risk", "--protected",
                       "purpose<3")
    assert code == 2 and "not numeric" in err
    code, res, _ = cli(capsys, home, "dataset", "list", "--json")
    assert {d["name"] for d in res["datasets"]} == {"credit"}          # nothing stored half-way


def test_the_approval_policy_is_in_the_database(credit_home, capsys, monkeypatch):
    """Tightening takes effect at once; relaxing is a request that another approver must approve."""
    tmp, home = credit_home
    monkeypatch.setenv("FTBOT_ADMINS", "cli:alice,cli:bob")
    monkeypatch.setenv("FTBOT_APPROVERS", "cli:alice,cli:bob")
    monkeypatch.setattr("ops.access.cli_login", lambda: "alice")
    code, res, _ = cli(capsys, home, "approval", "required", "--json")
    assert code == 0 and res["mode"] == "required" and res["changed"]
    monkeypatch.setenv("FTBOT_DEPLOY_APPROVAL", "optional")      # a process's environment changes nothing now
    code, res, _ = cli(capsys, home, "deploy", "1", "--json")
    assert code == 0 and res["status"] == "pending"
    code, req, _ = cli(capsys, home, "approval", "optional", "--json")
    assert req["status"] == "pending" and req["kind"] == "policy"
    assert cli(capsys, home, "approve", req["id"])[0] == 2            # not her own
    monkeypatch.setattr("ops.access.cli_login", lambda: "bob")
    code, done, _ = cli(capsys, home, "approve", req["id"], "--json")
    assert code == 0 and done["status"] == "approved"
    code, res, _ = cli(capsys, home, "approval", "--json")
    assert res["mode"] == "optional" and res["set_by"] == "cli:alice+cli:bob"
    code, _, out = cli(capsys, home, "deployments")
    assert code == 0 and "approval: optional" in out          # whoever lists deployments sees the policy
    with connect(home) as db:
        actions = [r["action"] for r in db.query("SELECT action FROM audit WHERE action IN ('approval', 'approve')")]
    assert actions.count("approval") >= 2 and "approve" in actions


def test_a_drift_schedule_posts_when_a_band_is_crossed_and_a_quiet_line_weekly(credit_home):
    """The `drift` schedule watches the run deployed in its scope: a fire with nothing crossed speaks once a week at
    most; one after a shifted file was scored posts at once and names what moved."""
    import datetime as dt

    from ops import deployments, firing, scoring
    from ops.access import Actor
    from storage import schedules
    tmp, home = credit_home
    admin = Actor.system("test")
    deployments.deploy(home, 1, scope="CDRIFT", actor=admin)
    with connect(home) as db:
        schedules.add(db, id="drift-CDRIFT", kind="drift", target="CDRIFT", cron="0 6 * * *", created_by="UADMIN",
                      channel="CDRIFT")
    posted = []

    def fire(day: int, when=dt.datetime(2026, 12, 1, 6, tzinfo=dt.timezone.utc)):
        return firing.fire(home, "drift-CDRIFT", when + dt.timedelta(days=day), notify=lambda s, r: posted.append(r))

    scoring.score(home, 1, _write(tmp / "same.csv", _rows(400, 11)), out=tmp / "same-scored.csv", actor=admin)
    first = fire(0)
    assert first["action"] == "drift" and first["crossed"] == [] and first["post"] and len(posted) == 1
    assert not fire(1)["post"] and not fire(5)["post"] and len(posted) == 1       # quiet in between
    assert fire(7)["post"] and len(posted) == 2                                   # the weekly "nothing moved"

    shifted = [{**r, "duration": str(int(r["duration"]) * 3)} for r in _rows(400, 12)]
    scoring.score(home, 1, _write(tmp / "shifted.csv", shifted), out=tmp / "shifted-scored.csv", actor=admin)
    moved = fire(8)
    assert moved["post"] and "duration" in moved["crossed"] and len(posted) == 3
    assert posted[-1]["drift"]["source"].startswith("shifted.csv")
    with connect(home) as db:
        audited = [json.loads(r["detail"]) for r in db.query(
            "SELECT detail FROM audit WHERE action = 'schedule.drift' ORDER BY id")]
    assert [a["posted"] for a in audited] == [True, False, False, True, True]
