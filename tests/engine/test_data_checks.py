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


# ---- no message quotes personal data, whatever the redact setting (finding 5) ------------------------------------
CARD = "4111111111111111"


def _no_pii(messages: list[str]) -> None:
    from tests.fixtures.pii_strategies import digits_in
    for m in messages:
        assert CARD not in digits_in(m) and "jane@example.org" not in m and "7946 0958" not in m, m


@pytest.mark.parametrize("redact", [False, True])
def test_formula_cell_message_does_not_quote_the_card(tmp_path, redact):
    rows = base_rows()
    rows[1][0] = f"={CARD}+1"
    rows[2][0] = f"=HYPERLINK(\"http://x/?c={CARD}\")"
    msgs = problems(write(tmp_path / "f.csv", ["text", "label"], rows), redact=redact)
    (msg,) = [m for m in msgs if "spreadsheet formulas" in m]
    assert "row 3 column text ('=[CARD]+1')" in msg
    _no_pii(msgs)


@pytest.mark.parametrize("redact", [False, True])
def test_duplicate_label_message_does_not_quote_pii(tmp_path, redact):
    rows = base_rows()
    rows.append([f"my card {CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:]} was declined", "a"])
    rows.append([f"my card {CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:]} was declined", "b"])
    rows.append(["please mail jane@example.org about it", "b"])
    rows.append(["please mail jane@example.org about it", "c"])
    msgs = problems(write(tmp_path / "d.csv", ["text", "label"], rows), redact=redact)
    (msg,) = [m for m in msgs if "different labels" in m]
    assert "'my card [CARD] was declined' on rows 17 (a), 18 (b)" in msg
    assert "'please mail [EMAIL] about it'" in msg
    _no_pii(msgs)


@pytest.mark.parametrize("redact", [False, True])
def test_overlap_message_does_not_quote_pii(tmp_path, redact):
    rows = [[t, lab, "validation" if i % 5 == 0 else "train"] for i, (t, lab) in enumerate(base_rows())]
    rows[1][0] = "call me on +44 20 7946 0958 about my refund"
    rows.append(["CALL ME ON +44 20 7946 0958 ABOUT MY REFUND", rows[1][1], "validation"])   # not a repeat
    msgs = problems(write(tmp_path / "o.csv", ["text", "label", "split"], rows), redact=redact)
    (msg,) = [m for m in msgs if "in both train and validation" in m]
    assert "'CALL ME ON [PHONE] ABOUT MY REFUND' (train row 3, validation row 17)" in msg
    _no_pii(msgs)


def test_quoted_text_is_redacted_before_it_is_cut():
    """A cut at 40 characters must not leave the first digits of a card in clear."""
    from engine.data.checks import quoted
    q = quoted(f"a rather long customer question with card {CARD} at the end")
    assert "4111" not in q and q.endswith("…'")


def test_other_messages_quote_labels_and_values_redacted(tmp_path):
    rows = [[f"question {w}", "jane@example.org", "test" if i == 0 else "train"] for i, w in enumerate("abcd")]
    msgs = problems(write(tmp_path / "l.csv", ["text", "label", "split"], rows))
    assert any("every row has the same label ('[EMAIL]')" in m for m in msgs)
    _no_pii(msgs)


# ---- column names and labels holding PII refuse the file (finding 11) --------------------------------------------
@pytest.mark.parametrize("redact", [False, True])
def test_column_name_holding_pii_refuses_the_file(tmp_path, redact):
    rows = [r + ["x"] for r in base_rows()]
    p = write(tmp_path / "c.csv", ["text", "label", "jane@example.org"], rows)
    msgs = problems(p, redact=redact)
    (msg,) = [m for m in msgs if "column name" in m]
    assert msg.startswith("1 column name holds personal data: column 3 (email ************.org)")
    assert "rename it in the header" in msg
    _no_pii(msgs)
    assert not (tmp_path / "home").exists()


def test_column_names_in_other_messages_show_tokens(tmp_path):
    p = write(tmp_path / "c.csv", ["text", "label", f"card {CARD}"], [r + ["x"] for r in base_rows()])
    with pytest.raises(DatasetError) as e:
        prepare_dataset(p, label_column="nope")
    assert "the columns are: text, label, card [CARD]" in str(e.value)
    _no_pii(e.value.problems)


@pytest.mark.parametrize("redact", [False, True])
def test_labels_holding_pii_refuse_the_file_naming_rows_masked(tmp_path, redact):
    rows = base_rows()
    rows[3][1] = "call +44 20 7946 0958"
    rows[4][1] = "call +44 20 7946 0958"
    msgs = problems(write(tmp_path / "l.csv", ["text", "label"], rows), redact=redact)
    (msg,) = [m for m in msgs if "holds personal data" in m]
    assert "the label column 'label' holds personal data (phone ×2: row 5 (************0958), row 6" in msg
    assert "rename those labels" in msg
    _no_pii(msgs)


def test_file_name_holding_pii_is_not_quoted(tmp_path):
    rows = base_rows(labels=("only",))
    with pytest.raises(DatasetError) as e:
        prepare_dataset(write(tmp_path / "jane@example.org.csv", ["text", "label"], rows))
    assert "jane" not in str(e.value) and e.value.source == "[EMAIL]"
