"""Reading files: formats, encodings, empty files."""
from __future__ import annotations

import importlib.util
import json

import pytest

from engine.data import prepare_dataset
from engine.errors import DatasetError


def _rows(n_labels=3, per=6):
    return [(f"question number {i} about topic {lab}", f"label_{lab}") for lab in range(n_labels) for i in range(per)]


def _csv(path, rows, header=("text", "label"), delim=","):
    lines = [delim.join(header)] + [delim.join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_csv_tsv_jsonl_and_semicolon_read_the_same(tmp_path):
    rows = _rows()
    paths = {
        "csv": _csv(tmp_path / "a.csv", rows),
        "tsv": _csv(tmp_path / "a.tsv", rows, delim="\t"),
        "tsv-sniffed": _csv(tmp_path / "a.txt", rows, delim="\t"),
        "semicolon": _csv(tmp_path / "b.csv", rows, delim=";"),
    }
    jl = tmp_path / "a.jsonl"
    jl.write_text("\n".join(json.dumps({"text": t, "label": lab}) for t, lab in rows) + "\n", encoding="utf-8")
    paths["jsonl"] = jl
    sniffed = tmp_path / "c.data"
    sniffed.write_text(jl.read_text(encoding="utf-8"), encoding="utf-8")
    paths["jsonl-sniffed"] = sniffed
    results = {k: prepare_dataset(p) for k, p in paths.items()}
    assert results["csv"].format == "csv" and results["tsv"].format == "tsv"
    assert results["tsv-sniffed"].format == "tsv" and results["jsonl"].format == "jsonl"
    assert results["jsonl-sniffed"].format == "jsonl"
    ref = [(e.text, e.label) for e in results["csv"].train]
    for k, d in results.items():
        assert [(e.text, e.label) for e in d.train] == ref, k
        assert d.labels == ["label_0", "label_1", "label_2"]


def test_bom_is_accepted(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbf" + "text,label\n".encode() + "\n".join(f"{t},{lab}" for t, lab in _rows()).encode())
    d = prepare_dataset(p)
    assert d.text_column == "text" and d.label_column == "label"


def test_undecodable_bytes_name_line_and_offset(tmp_path):
    p = tmp_path / "latin1.csv"
    body = "text,label\n" + "\n".join(f"{t},{lab}" for t, lab in _rows()) + "\n"
    good = body.encode()
    p.write_bytes(good + "caf\u00e9 card,label_0\n".encode("latin-1"))
    with pytest.raises(DatasetError) as e:
        prepare_dataset(p)
    msg = str(e.value)
    assert f"line {body.count(chr(10)) + 1}" in msg
    assert f"byte offset {len(good) + 3}" in msg
    assert "save the file as UTF-8" in msg


def test_utf16_gets_a_specific_message(tmp_path):
    p = tmp_path / "u16.csv"
    p.write_bytes("text,label\nhello,a\n".encode("utf-16"))
    with pytest.raises(DatasetError, match="UTF-16.*save the file as UTF-8"):
        prepare_dataset(p)


@pytest.mark.parametrize("content,expected", [
    ("", "the file is empty"),
    ("  \n\n", "the file is empty"),
    ("text,label\n", "only a header (text, label) and no data rows"),
])
def test_empty_and_header_only(tmp_path, content, expected):
    p = tmp_path / "e.csv"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError) as e:
        prepare_dataset(p)
    assert expected in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="file not found"):
        prepare_dataset(tmp_path / "nope.csv")


def test_ragged_rows_and_bad_json_lines_are_reported(tmp_path):
    rows = _rows()
    p = _csv(tmp_path / "r.csv", rows)
    p.write_text(p.read_text() + "oops, with a comma,label_0\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="different number of fields"):
        prepare_dataset(p)
    jl = tmp_path / "bad.jsonl"
    jl.write_text("\n".join(json.dumps({"text": t, "label": lab}) for t, lab in rows) + "\n{not json\n",
                  encoding="utf-8")
    with pytest.raises(DatasetError, match=f"line {len(rows) + 1} is not a JSON object"):
        prepare_dataset(jl)


def test_jsonl_non_string_values_become_text(tmp_path):
    p = tmp_path / "n.jsonl"
    lines = [{"text": f"amount {i} question", "label": i % 2} for i in range(10)]
    p.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    d = prepare_dataset(p)
    assert d.labels == ["0", "1"]


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is not None, reason="pyarrow installed")
def test_parquet_without_pyarrow_names_the_fix(tmp_path):
    p = tmp_path / "d.parquet"
    p.write_bytes(b"PAR1")
    with pytest.raises(DatasetError, match="pip install pyarrow"):
        prepare_dataset(p)


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="pyarrow not installed")
def test_parquet_with_pyarrow(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    rows = _rows()
    p = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist([{"text": t, "label": lab} for t, lab in rows]), p)
    d = prepare_dataset(p)
    assert d.format == "parquet" and d.rows == len(rows)
