"""The `ftbot` CLI end to end on a tiny model: register → train → runs/status → eval → deploy → ask, plus the
error paths (clear message, exit 2, nothing stored). Asserts on --json output, database rows and files."""
from __future__ import annotations

import csv
import json
import random
import subprocess
import sys

import pytest

from bot.cli import main
from storage import connect

INTENTS = {
    "lost_card": ("I lost my card", "my card was stolen", "cannot find my debit card", "card missing after trip"),
    "exchange_rate": ("what is the euro rate", "dollar exchange rate today", "convert pounds to euro", "fx rate"),
    "top_up": ("top up failed", "my top-up did not arrive", "add money to account", "top up with bank transfer"),
}
ANSWERS = {"lost_card": "Freeze the card in the app.", "exchange_rate": "We use the interbank rate.",
           "top_up": "Top-ups arrive within minutes."}


def write_data(path, n_per_label=12, seed=0):
    r = random.Random(seed)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "intent", "answer"])
        for label, phrases in INTENTS.items():
            seen = set()
            while len(seen) < n_per_label:
                t = f"{r.choice(phrases)} {r.choice(['please', 'help', 'today', 'now', 'asap', 'thanks'])} {len(seen)}"
                seen.add(t)
            for t in sorted(seen):
                w.writerow([t, label, ANSWERS[label]])
    return path


def run_cli(capsys, *argv) -> tuple[int, dict | None, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    try:
        obj = json.loads(out.out.strip().splitlines()[-1]) if out.out.strip() else None
    except json.JSONDecodeError:
        obj = None
    return code, obj, out.err


def test_register_train_eval_deploy_ask(home, tmp_path, tiny_bert, capsys):
    data = write_data(tmp_path / "cards.csv")
    code, ds, _ = run_cli(capsys, "dataset", "add", "cards", data, "--json")
    assert code == 0 and ds["name"] == "cards" and ds["rows"] == 36 and sorted(ds["labels"]) == sorted(INTENTS)
    assert (home / "datasets" / "cards" / "train.jsonl").exists()

    code, run, err = run_cli(capsys, "train", "cards", "--base", tiny_bert, "--method", "lora", "--alpha", "0.3",
                             "--freeze", "embeddings,0", "--epochs", "3", "--lr", "0.01", "--threads", "1",
                             "--set", "batch_size=8", "--json")
    assert code == 0, err
    assert run["status"] == "succeeded" and run["method"] == "lora" and run["alpha"] == 0.3
    assert run["freeze"] == "embeddings,0" and run["pre_loss"] == "mlm"
    assert 0 <= run["accuracy"] <= 1 and run["macro_f1"] is not None
    assert run["config"]["batch_size"] == 8
    art = home / "runs" / str(run["run_id"])
    assert run["artifact_path"] == str(art)
    for f in ("README.md", "metrics.json", "qa.json", "label_map.json", "plots/confusion.png", "plots/loss_curve.png"):
        assert (art / f).exists(), f
    card = (art / "README.md").read_text()
    assert "α" in card or "alpha" in card
    assert not list((home / "runs").glob(".*"))  # no temp or checkpoint folders left behind

    with connect(home) as db:
        kinds = {r["kind"] for r in db.query("SELECT kind FROM run_events WHERE run_id = ?", [run["run_id"]])}
        losses = list(db.query("SELECT loss_new, loss_pre FROM run_events WHERE kind = 'step' AND run_id = ?",
                               [run["run_id"]]))
    assert {"step", "eval", "milestone"} <= kinds
    assert losses and all(r["loss_pre"] is not None for r in losses)  # α > 0: L_pre logged beside L_new

    code, lst, _ = run_cli(capsys, "runs", "--json")
    assert code == 0 and [r["run_id"] for r in lst["runs"]] == [run["run_id"]]
    code, st, _ = run_cli(capsys, "status", run["run_id"], "--json")
    assert st["status"] == "succeeded" and st["accuracy"] == run["accuracy"]

    code, ev, _ = run_cli(capsys, "eval", run["run_id"], "--file", data, "--json")
    assert code == 0 and ev["examples"] == 36 and 0 <= ev["accuracy"] <= 1

    code, dep, _ = run_cli(capsys, "deploy", run["run_id"], "--json")
    assert code == 0 and dep["scope"] == "default" and dep["run_id"] == run["run_id"]
    code, ans, _ = run_cli(capsys, "ask", "I lost my card yesterday", "--json")
    assert code == 0 and ans["intent"] in INTENTS and len(ans["top"]) == 3
    assert ans["answer"] in set(ANSWERS.values()) or ans["fallback"]
    with connect(home) as db:
        q = list(db.query("SELECT question, intent, run_id FROM questions"))
    assert q == [{"question": "I lost my card yesterday", "intent": ans["intent"], "run_id": run["run_id"]}]

    # a backlog of questions triaged with the intent model: intent, confidence, whether a human would take it
    backlog = tmp_path / "backlog.csv"
    backlog.write_text("ticket,question\nT1,I lost my card yesterday\nT2,what is the euro rate\nT3,=SUM(A1)\n")
    code, sc, err = run_cli(capsys, "score", run["run_id"], backlog, "--out", tmp_path / "triaged.csv",
                            "--id-column", "ticket", "--json")
    assert code == 0, err
    assert sc["rows"] == 3 and sum(sc["counts"].values()) == 3 and 0 <= sc["fallback"] <= 3
    with open(tmp_path / "triaged.csv", newline="") as f:
        out = list(csv.DictReader(f))
    assert [r["ticket"] for r in out] == ["T1", "T2", "T3"] and list(out[0]) == ["ticket", "intent", "confidence",
                                                                                 "fallback"]
    assert all(r["intent"] in INTENTS and 0 <= float(r["confidence"]) <= 1 and r["fallback"] in ("yes", "no")
               for r in out)
    assert sum(r["fallback"] == "yes" for r in out) == sc["fallback"]


@pytest.mark.parametrize("argv, needle", [
    (["train", "cards", "--alpha", "1.5"], "alpha=1.5"),
    (["train", "cards", "--set", "colour=blue"], "colour"),
    (["train", "cards", "--method", "qlora"], "one of lora, full"),
    (["train", "cards", "--set", "gpus=2"], "add --queue"),
    (["train", "nosuch"], "no dataset named 'nosuch'"),
    (["status", "99"], "no run #99"),
    (["ask", "hello"], "no model is deployed"),
])
def test_bad_input_gets_a_clear_error_and_stores_nothing(home, tmp_path, capsys, argv, needle):
    data = write_data(tmp_path / "cards.csv", n_per_label=4)
    assert main(["dataset", "add", "cards", str(data)]) == 0
    capsys.readouterr()
    code, obj, err = run_cli(capsys, *argv)
    assert code == 2 and needle in err
    with connect(home) as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


def test_failed_dataset_leaves_nothing(home, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,intent\nhello,a\n=HYPERLINK(\"x\"),b\n")
    code, obj, err = run_cli(capsys, "dataset", "add", "bad", bad, "--json")
    assert code == 2 and obj["kind"] == "DatasetError" and "formula" in err.lower()
    assert not (home / "datasets" / "bad").exists()
    with connect(home) as db:
        assert db.execute("SELECT COUNT(*) FROM datasets").fetchone()[0] == 0


def test_console_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for cmd in ("dataset", "train", "runs", "status", "cancel", "eval", "deploy", "ask", "demo", "serve", "worker"):
        assert cmd in out.stdout


def test_human_output_and_global_options_before_the_command(home, tmp_path, capsys):
    data = write_data(tmp_path / "cards.csv", n_per_label=4)
    other = tmp_path / "other-home"
    assert main(["--home", str(other), "dataset", "add", "cards", str(data)]) == 0
    assert "dataset cards (text, csv): 12 rows, 3 labels" in capsys.readouterr().out
    assert (other / "datasets" / "cards").exists() and not (home / "datasets" / "cards").exists()
    assert main(["--home", str(other), "runs"]) == 0
    assert "no runs yet" in capsys.readouterr().out
    code, obj, _ = run_cli(capsys, "--home", other, "--json", "dataset", "list")
    assert code == 0 and [d["name"] for d in obj["datasets"]] == ["cards"]


def _credit_csv(path, n: int, seed: int):
    r = random.Random(seed)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["amount", "housing", "purpose", "risk"])
        for _ in range(n):
            amount = r.randint(100, 9000)
            w.writerow([amount, r.choice(["own", "rent"]), r.choice(["car", "tv", "education"]),
                        "bad" if amount > 4500 else "good"])
    return path


def test_tabular_data_trains_with_column_features_by_default(home, tmp_path, tiny_bert, capsys):
    """A credit table: serialized rows for the encoder, the raw columns for the head — also in eval and ask."""
    code, ds, err = run_cli(capsys, "dataset", "add", "loans", _credit_csv(tmp_path / "loans.csv", 60, 1), "--json")
    assert code == 0 and ds["kind"] == "tabular", err
    code, run, err = run_cli(capsys, "train", "loans", "--base", tiny_bert, "--method", "full", "--epochs", "10",
                             "--lr", "0.001", "--threads", "1", "--set", "batch_size=8", "--set", "patience=0",
                             "--json")
    assert code == 0 and run["status"] == "succeeded", err
    assert run["config"]["column_features"] is True
    art = home / "runs" / str(run["run_id"])
    assert json.loads((art / "features.json").read_text())["numeric"].keys() == {"amount"}
    code, ev, err = run_cli(capsys, "eval", run["run_id"], "--file", _credit_csv(tmp_path / "new.csv", 40, 2), "--json")
    assert code == 0 and ev["accuracy"] >= 0.85, err                  # the amount rule, read from the columns
    code, ans, err = run_cli(capsys, "ask", "--run", run["run_id"], "amount: 8800; housing: own; purpose: car", "--json")
    assert code == 0 and ans["intent"] == "bad", err


def test_demo_refuses_a_home_that_holds_a_teams_work(home, tmp_path, capsys):
    """The demo deploys and approves as made-up people: pointed at a real home it must stop before touching it."""
    data = write_data(tmp_path / "cards.csv")
    assert run_cli(capsys, "dataset", "add", "cards", data, "--json")[0] == 0
    with connect(home) as db:
        before = (db.execute("select count(*) from runs").fetchone()[0],
                  db.execute("select count(*) from datasets").fetchone()[0])
    code, _, err = run_cli(capsys, "demo", "--home", home)
    assert code != 0
    assert "not the demo's" in err and "cards" in err and "ftbot demo --home NEW_FOLDER" in err
    with connect(home) as db:
        after = (db.execute("select count(*) from runs").fetchone()[0],
                 db.execute("select count(*) from datasets").fetchone()[0])
    assert after == before
