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
    rows[7][0] = "+A1*2"
    rows[8][0] = "-2+3"
    (msg,) = problems(write(tmp_path / "bad.csv", ["text", "label", "amount"], rows), text_column="text")
    assert "4 cells would run as spreadsheet formulas" in msg
    assert "row 3 column text" in msg and "row 8 column amount" in msg and "row 9 column text" in msg
    assert "row 10 column text" in msg
    assert "remove the leading character or quote it" in msg


# Behaviour change: customer texts that merely start with - + @ used to be refused as formulas.
@pytest.mark.parametrize("text", ["-20 charged twice", "+1 for the app", "@support help", "+44 call me maybe",
                                  "- card lost", "+1 (555) 123-4567", "-£20 taken", "@ATM 5 pounds"])
def test_customer_texts_starting_with_sign_are_not_formulas(tmp_path, text):
    from engine.data.checks import is_formula
    assert not is_formula(text)
    rows = base_rows()
    rows[0][0] = text
    d = prepare_dataset(write(tmp_path / "ok.csv", ["text", "label"], rows))
    assert text in [e.text for e in d.train + d.validation]


@pytest.mark.parametrize("cell", ["=1+1", "@SUM(A1:A3)", "+A1*2", "-2+3", "=cmd|' /C calc'!A0",
                                  "-cmd|' /C calc'!A0", '+HYPERLINK("http://x")', "@A1", "\t=1+1", "-(2*3)"])
def test_real_formulas_are_found(cell):
    from engine.data.checks import is_formula
    assert is_formula(cell)


# Behaviour change: repeated texts with the same label are dropped with a warning (they used to refuse the file);
# only a text given different labels still refuses it, unless dedupe=True.
def test_repeats_are_dropped_with_a_warning_and_conflicts_refused(tmp_path):
    rows = base_rows()
    rows.append(["how  do I do thing 1 for a", "a"])          # whitespace differs only, same label
    same = write(tmp_path / "same.csv", ["text", "label"], rows)
    d = prepare_dataset(same)
    assert d.rows == 15
    assert any("dropped 1 duplicate row (row 17), keeping the first copy of each (row 3)" in w for w in d.warnings)
    assert prepare_dataset(same, dedupe=True).rows == 15

    rows.append(["how do I do thing 2 for b", "c"])           # conflicting label
    p = write(tmp_path / "d.csv", ["text", "label"], rows)
    (msg,) = problems(p)
    assert msg.startswith("1 text is given different labels")
    assert "on rows 9 (b), 18 (c)" in msg and "dedupe=True" in msg
    d = prepare_dataset(p, dedupe=True)
    assert d.rows == 15
    assert any("dropped 2 duplicate rows (rows 17, 18), keeping the first copy of each (rows 3, 9)" in w
               and "first copy's label was kept" in w for w in d.warnings)
    assert all(e.label == "b" for e in d.train + d.validation if e.text == "how do I do thing 2 for b")


def test_identical_table_rows_are_kept_and_stay_on_one_side(tmp_path):
    rows = [[str(1000 + i % 12), "rent" if i % 3 else "own", "good" if i % 4 else "bad"] for i in range(60)]
    rows += [["1000", "own", "bad"], ["1000", "own", "good"]]     # repeats, one with another outcome
    p = write(tmp_path / "t.csv", ["amount", "housing", "risk"], rows)
    d = prepare_dataset(p)
    assert d.kind == "tabular" and d.rows == 62
    assert any("kept as observations" in w and "with different outcomes" in w for w in d.warnings)
    assert not {e.text for e in d.train} & {e.text for e in d.validation}
    exact = prepare_dataset(p, dedupe=True)           # dedupe drops only repeats with the same outcome
    assert exact.rows < 62 and len({e.label for e in exact.train + exact.validation
                                    if e.text == "amount: 1000; housing: own"}) == 2


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
    rows += [["one of a kind", "rare"], [rows[5][0], "a"]]        # the same text under another label
    p = write(tmp_path / "d.csv", ["text", "label"], rows)
    dest = tmp_path / "home" / "datasets" / "x"
    with pytest.raises(DatasetError) as e:
        save_dataset(prepare_dataset(p, max_chars=40), p, dest)
    msgs = e.value.problems
    assert len(msgs) == 5, msgs
    for needle in ("empty text", "spreadsheet formulas", "longer than the limit", "different labels",
                   "fewer than 2 rows"):
        assert any(needle in m for m in msgs), needle
    assert str(e.value).startswith("d.csv: 5 problems:")
    assert not dest.exists() and not (tmp_path / "home").exists()


def test_bad_arguments():
    with pytest.raises(ConfigError, match="val_fraction"):
        prepare_dataset("whatever.csv", val_fraction=1.5)
