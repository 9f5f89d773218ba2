"""save_dataset / load_dataset: round trip, sha256, atomicity; read_labeled_file for eval on another file."""
from __future__ import annotations

import csv
import hashlib
import json

import pytest

import engine.data.store as store
from engine.data import load_dataset, prepare_dataset, read_labeled_file, save_dataset, serialize_row
from engine.errors import DatasetError


def write(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def text_file(tmp_path, name="d.csv"):
    rows = [[f"how can I sort out problem {i} with my {lab}", lab, f"Here is how to fix your {lab}."]
            for lab in ("card", "pin", "transfer") for i in range(6)]
    return write(tmp_path / name, ["text", "intent", "answer"], rows)


def tab_file(tmp_path, name="t.csv"):
    rows = [[["none", "0 to 200 DM", "below 0"][i % 3], str(6 + i % 40), str(500 + 37 * i), "good" if i % 4 else "bad"]
            for i in range(40)]
    return write(tmp_path / name, ["checking_account", "duration_months", "credit_amount", "risk"], rows)


def leftovers(parent):
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


def test_round_trip_text(tmp_path):
    src = text_file(tmp_path)
    d = prepare_dataset(src)
    dest = tmp_path / "home" / "datasets" / "support"
    digest = save_dataset(d, src, dest)
    assert digest == hashlib.sha256(src.read_bytes()).hexdigest() == d.sha256
    assert sorted(p.name for p in dest.iterdir()) == \
        ["answers.json", "meta.json", "source.csv", "train.jsonl", "validation.jsonl"]
    assert (dest / "source.csv").read_bytes() == src.read_bytes()
    meta = json.loads((dest / "meta.json").read_text())
    assert meta["sha256"] == digest and "train" not in meta
    back = load_dataset(dest)
    assert back == d
    assert leftovers(dest.parent) == []


def test_round_trip_tabular_keeps_raw_rows(tmp_path):
    src = tab_file(tmp_path)
    d = prepare_dataset(src)
    save_dataset(d, src, tmp_path / "credit")
    back = load_dataset(tmp_path / "credit")
    assert back == d and back.kind == "tabular"
    assert back.raw_train and back.raw_train[0].keys() == {"checking_account", "duration_months", "credit_amount"}
    assert back.train[0].text == serialize_row(back.raw_train[0], back.feature_columns)


def test_refuses_existing_destination(tmp_path):
    src = text_file(tmp_path)
    d = prepare_dataset(src)
    dest = tmp_path / "x"
    dest.mkdir()
    with pytest.raises(DatasetError, match="already exists"):
        save_dataset(d, src, dest)


def test_failure_mid_write_leaves_nothing(tmp_path, monkeypatch):
    src = text_file(tmp_path)
    d = prepare_dataset(src)
    real = store._write_examples
    calls = []

    def flaky(path, examples, raw, *rest):
        calls.append(path.name)
        if path.name == "validation.jsonl":
            raise OSError("disk full")
        return real(path, examples, raw, *rest)

    monkeypatch.setattr(store, "_write_examples", flaky)
    parent = tmp_path / "datasets"
    dest = parent / "support"
    with pytest.raises(OSError, match="disk full"):
        save_dataset(d, src, dest)
    assert calls == ["train.jsonl", "validation.jsonl"]
    assert not dest.exists()
    assert list(parent.iterdir()) == []          # no temp folder either


def test_failure_at_rename_leaves_nothing(tmp_path, monkeypatch):
    src = text_file(tmp_path)
    d = prepare_dataset(src)

    def boom(a, b):
        raise OSError("rename failed")

    monkeypatch.setattr(store.os, "rename", boom)
    with pytest.raises(OSError):
        save_dataset(d, src, tmp_path / "ds")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


def test_source_changed_after_prepare_is_refused(tmp_path):
    src = text_file(tmp_path)
    d = prepare_dataset(src)
    src.write_text(src.read_text() + "one more row about card,card,Here is how to fix your card.\n")
    with pytest.raises(DatasetError, match="changed after it was checked"):
        save_dataset(d, src, tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


def test_load_detects_tampering(tmp_path):
    src = text_file(tmp_path)
    save_dataset(prepare_dataset(src), src, tmp_path / "ds")
    with open(tmp_path / "ds" / "source.csv", "a") as f:
        f.write("x,y,z\n")
    with pytest.raises(DatasetError, match="sha256 differs"):
        load_dataset(tmp_path / "ds")


def test_jsonl_source_keeps_extension(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text("\n".join(json.dumps({"text": f"a question {i}", "label": "ab"[i % 2]}) for i in range(10)))
    save_dataset(prepare_dataset(p), p, tmp_path / "ds")
    assert (tmp_path / "ds" / "source.jsonl").exists()
    assert load_dataset(tmp_path / "ds").format == "jsonl"


def test_read_labeled_file_text(tmp_path):
    like = prepare_dataset(text_file(tmp_path))
    other = write(tmp_path / "eval.csv", ["text", "label"], [["my card is stuck", "card"], ["pin?", "pin"]])
    assert [(e.text, e.label) for e in read_labeled_file(other, like)] == [("my card is stuck", "card"),
                                                                           ("pin?", "pin")]
    bad = write(tmp_path / "bad.csv", ["text", "label"], [["hello", "card"], ["loan?", "mortgage"]])
    with pytest.raises(DatasetError) as e:
        read_labeled_file(bad, like)
    msg = str(e.value)
    assert "labels not known to the dataset: 'mortgage' (row 3)" in msg and "card, pin, transfer" in msg
    nocol = write(tmp_path / "nocol.csv", ["body", "what", "other"], [["a", "card", "x"]])
    with pytest.raises(DatasetError, match="body, what, other"):
        read_labeled_file(nocol, like)


def test_read_labeled_file_tabular(tmp_path):
    like = prepare_dataset(tab_file(tmp_path))
    other = write(tmp_path / "eval.csv", ["credit_amount", "checking_account", "duration_months", "risk"],
                  [["999", "none", "12", "bad"]])
    (ex,) = read_labeled_file(other, like)
    assert ex.text == "checking_account: none; duration_months: 12; credit_amount: 999" and ex.label == "bad"
    missing = write(tmp_path / "m.csv", ["checking_account", "risk"], [["none", "good"]])
    with pytest.raises(DatasetError, match="columns duration_months, credit_amount are missing"):
        read_labeled_file(missing, like)
