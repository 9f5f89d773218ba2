"""Validation: every problem gets its own message, all are raised together, nothing is written."""
from __future__ import annotations

import csv

import pytest

from engine.data import prepare_dataset, save_dataset
from engine.errors import ConfigError, DatasetError


def write(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def base_rows(per=5, labels=("a", "b", "c")):
    return [[f"how do I do thing {i} for {lab}", lab] for lab in labels for i in range(per)]


def problems(path, **kw):
    with pytest.raises(DatasetError) as e:
        prepare_dataset(path, **kw)
    return e.value.problems


def test_single_class(tmp_path):
    p = write(tmp_path / "d.csv", ["text", "label"], base_rows(labels=("only",)))
    (msg,) = problems(p)
    assert "every row has the same label ('only')" in msg and "at least two labels" in msg


def test_classes_with_fewer_than_two_rows_are_named(tmp_path):
    rows = base_rows() + [["a lonely question", "rare1"], ["another lonely one", "rare2"]]
    (msg,) = problems(write(tmp_path / "d.csv", ["text", "label"], rows))
    assert "2 labels have fewer than 2 rows ('rare1', 'rare2')" in msg


def test_empty_texts_and_labels_give_row_numbers(tmp_path):
    rows = base_rows()
    rows[0][0] = "   "
    rows[4][1] = ""
    msgs = problems(write(tmp_path / "d.csv", ["text", "label"], rows))
    assert any("row 2 has empty text" in m for m in msgs)
    assert any("row 6 has no label" in m for m in msgs)


def test_over_long_rows_give_row_length_and_limit(tmp_path):
    rows = base_rows()
    rows[2][0] = "x" * 120
    (msg,) = problems(write(tmp_path / "d.csv", ["text", "label"], rows), max_chars=100)
    assert "row 4 (120 characters)" in msg and "limit of 100 characters" in msg


def test_formula_cells_but_not_plain_numbers(tmp_path):
    rows = [[t, lab, n] for (t, lab), n in zip(base_rows(), ["-5", "+3.2", "1,000", "-0.5", "12%"] * 3)]
    ok = write(tmp_path / "ok.csv", ["text", "label", "amount"], rows)
    prepare_dataset(ok, text_column="text")
    rows[1][0] = '=HYPERLINK("http://evil","click")'
    rows[6][2] = "@SUM(A1)"
    rows[7][0] = "+44 call me maybe"
    (msg,) = problems(write(tmp_path / "bad.csv", ["text", "label", "amount"], rows), text_column="text")
    assert "3 cells start with = + - or @" in msg
    assert "row 3 column text" in msg and "row 8 column amount" in msg and "row 9 column text" in msg
    assert "remove the leading character or quote it" in msg


def test_duplicates_are_shown_and_dedupe_drops_later_copies(tmp_path):
    rows = base_rows()
    rows.append(["how  do I do thing 1 for a", "a"])          # whitespace differs only
    rows.append(["how do I do thing 2 for b", "c"])           # conflicting label
    p = write(tmp_path / "d.csv", ["text", "label"], rows)
    (msg,) = problems(p)
    assert "2 duplicate rows" in msg
    assert "on rows 3, 17" in msg and "rows 9, 18, with different labels b, c" in msg
    assert "dedupe=True" in msg
    d = prepare_dataset(p, dedupe=True)
    assert d.rows == 15
    assert any("dropped 2 duplicate rows (rows 17, 18)" in w for w in d.warnings)
    assert all(e.label == "b" for e in d.train + d.validation if e.text == "how do I do thing 2 for b")


def test_messages_show_at_most_five_rows_and_count_the_rest(tmp_path):
    rows = base_rows(per=10)
    for i in range(8):
        rows[i][0] = ""
    (msg,) = problems(write(tmp_path / "d.csv", ["text", "label"], rows))
    assert "rows 2, 3, 4, 5, 6 and 3 more have empty text" in msg


def test_split_column_overlap_and_values(tmp_path):
    rows = [[t, lab, "validation" if i % 5 == 0 else "train"] for i, (t, lab) in enumerate(base_rows())]
    p = write(tmp_path / "s.csv", ["text", "label", "split"], rows)
    d = prepare_dataset(p)
    assert d.split["from_column"] == "split" and d.split["validation"] == 3 and d.split["train"] == 12
    assert d.feature_columns == [] and d.split_column == "split"
    leak = rows + [[rows[1][0].upper(), rows[1][1], "validation"]]
    (msg,) = problems(write(tmp_path / "leak.csv", ["text", "label", "split"], leak))
    assert "1 text is in both train and validation" in msg and "train row 3, validation row 17" in msg
    odd = [r[:2] + ["test" if i == 2 else r[2]] for i, r in enumerate(rows)]
    (msg,) = problems(write(tmp_path / "odd.csv", ["text", "label", "split"], odd))
    assert "row 4 of column 'split' has values other than train/validation (test)" in msg


def test_all_problems_collected_and_nothing_written(tmp_path):
    rows = base_rows()
    rows[0][0] = ""
    rows[1][0] = "=1+1"
    rows[2][0] = "y" * 50
    rows += [["one of a kind", "rare"], [rows[5][0], rows[5][1]]]
    p = write(tmp_path / "d.csv", ["text", "label"], rows)
    dest = tmp_path / "home" / "datasets" / "x"
    with pytest.raises(DatasetError) as e:
        save_dataset(prepare_dataset(p, max_chars=40), p, dest)
    msgs = e.value.problems
    assert len(msgs) == 5, msgs
    for needle in ("empty text", "spreadsheet formulas", "longer than the limit", "duplicate", "fewer than 2 rows"):
        assert any(needle in m for m in msgs), needle
    assert str(e.value).startswith("d.csv: 5 problems:")
    assert not dest.exists() and not (tmp_path / "home").exists()


def test_bad_arguments():
    with pytest.raises(ConfigError, match="val_fraction"):
        prepare_dataset("whatever.csv", val_fraction=1.5)
