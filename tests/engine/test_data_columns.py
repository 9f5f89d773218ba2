"""Column detection, explicit and ambiguous columns, the answer table."""
from __future__ import annotations

import csv

import pytest

from engine.data import prepare_dataset, serialize_row
from engine.errors import DatasetError


def write(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def text_rows(per=5, labels=("a", "b", "c")):
    return [[f"how do I do thing {i} for {lab}", lab] for lab in labels for i in range(per)]


@pytest.mark.parametrize("text,label", [("Query", "Intent"), ("utterance", "category"), ("message", "class"),
                                        ("sentence", "target"), ("question", "y")])
def test_detects_common_names(tmp_path, text, label):
    d = prepare_dataset(write(tmp_path / "d.csv", [text, label], text_rows()))
    assert (d.text_column, d.label_column, d.kind) == (text, label, "text")


def test_explicit_columns_and_missing_explicit_column_lists_available(tmp_path):
    rows = [[r[0], r[1], "x"] for r in text_rows()]
    p = write(tmp_path / "d.csv", ["body", "topic", "other"], rows)
    d = prepare_dataset(p, text_column="body", label_column="topic")
    assert (d.text_column, d.label_column) == ("body", "topic")
    with pytest.raises(DatasetError) as e:
        prepare_dataset(p, text_column="body", label_column="intent")
    msg = str(e.value)
    assert "label column 'intent' does not exist" in msg and "body, topic, other" in msg


def test_ambiguous_label_names_the_columns_and_the_argument(tmp_path):
    rows = [[t, lab, lab.upper()] for t, lab in text_rows()]
    p = write(tmp_path / "d.csv", ["text", "label", "category"], rows)
    with pytest.raises(DatasetError) as e:
        prepare_dataset(p)
    msg = str(e.value)
    assert "several columns could be the label (label, category)" in msg
    assert "label_column=" in msg and "label=" in msg
    assert prepare_dataset(p, label_column="category").labels == ["A", "B", "C"]


def test_ambiguous_text(tmp_path):
    rows = [[t, t + " more", lab] for t, lab in text_rows()]
    p = write(tmp_path / "d.csv", ["text", "question", "label"], rows)
    with pytest.raises(DatasetError, match=r"several columns could be the text \(text, question\).*text_column="):
        prepare_dataset(p)
    assert prepare_dataset(p, text_column="question").text_column == "question"


def test_no_label_column(tmp_path):
    p = write(tmp_path / "d.csv", ["text", "foo", "bar"], [[t, lab, "1"] for t, lab in text_rows()])
    with pytest.raises(DatasetError, match="no label column found.*text, foo, bar.*label_column="):
        prepare_dataset(p)


def test_single_other_column_is_used_as_label_with_warning(tmp_path):
    d = prepare_dataset(write(tmp_path / "d.csv", ["text", "topic"], text_rows()))
    assert d.label_column == "topic" and any("'topic' as the label" in w for w in d.warnings)


def test_tabular_detection_and_serialization(tmp_path):
    rows = [[str(i % 7), f"{i * 10}", "own" if i % 2 else "", "good" if i % 3 else "bad"] for i in range(30)]
    p = write(tmp_path / "t.csv", ["checking", "amount", "housing", "risk"], rows)
    d = prepare_dataset(p)
    assert d.kind == "tabular" and d.text_column is None and d.label_column == "risk"
    assert d.feature_columns == ["checking", "amount", "housing"]
    for ex, raw in zip(d.train, d.raw_train):
        assert ex.text == serialize_row(raw, d.feature_columns)
        assert "risk" not in raw
    # Empty values are skipped in the text.
    empty = next(ex.text for ex, raw in zip(d.train, d.raw_train) if raw["housing"] == "")
    assert "housing" not in empty


def test_serialize_row():
    row = {"checking_account": "0 to 200 DM", "duration_months": "60", "purpose": "", "x": None, "note": " a\n b "}
    assert serialize_row(row, ["checking_account", "duration_months", "purpose", "x", "note"]) == \
        "checking_account: 0 to 200 DM; duration_months: 60; note: a b"


def test_answer_column_builds_table(tmp_path):
    rows = [[t, lab, f"Answer for {lab}."] for t, lab in text_rows()]
    d = prepare_dataset(write(tmp_path / "d.csv", ["text", "intent", "answer"], rows))
    assert d.answers == {"a": "Answer for a.", "b": "Answer for b.", "c": "Answer for c."}
    assert d.answer_column == "answer"


def test_inconsistent_answers_are_a_problem(tmp_path):
    rows = [[t, lab, f"Answer for {lab}."] for t, lab in text_rows()]
    rows[3][2] = "Something else."
    with pytest.raises(DatasetError) as e:
        prepare_dataset(write(tmp_path / "d.csv", ["text", "intent", "answer"], rows))
    msg = str(e.value)
    assert "label 'a' has different answers" in msg and "'Answer for a.' (row 2)" in msg and "(row 5)" in msg


def test_answers_file_and_unknown_labels(tmp_path):
    p = write(tmp_path / "d.csv", ["text", "intent"], text_rows())
    a = write(tmp_path / "answers.csv", ["label", "answer"], [["a", "A!"], ["b", "B!"]])
    d = prepare_dataset(p, answers_path=a)
    assert d.answers == {"a": "A!", "b": "B!"}
    assert any("no answer" in w and "c" in w for w in d.warnings)
    bad = write(tmp_path / "bad.csv", ["intent", "answer"], [["a", "A!"], ["zzz", "?"]])
    with pytest.raises(DatasetError) as e:
        prepare_dataset(p, answers_path=bad)
    assert "labels that no row has: 'zzz'" in str(e.value) and "the labels are: a, b, c" in str(e.value)
    jl = tmp_path / "answers.jsonl"
    jl.write_text('{"label": "c", "answer": "C!"}\n', encoding="utf-8")
    assert prepare_dataset(p, answers_path=jl).answers == {"c": "C!"}
    nocol = write(tmp_path / "nocol.csv", ["label", "reply"], [["a", "x"]])
    with pytest.raises(DatasetError, match="needs an answer column"):
        prepare_dataset(p, answers_path=nocol)
