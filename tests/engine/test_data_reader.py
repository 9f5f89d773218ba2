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


# ---- a file cannot grow into a table far larger than itself (finding 10) -----------------------------------------
def test_jsonl_with_new_keys_on_every_row_is_refused_early_in_bounded_memory(tmp_path):
    """2,000 rows, each with 4 keys no other row has: 110 kB that used to become 8,000 columns × 2,000 rows
    (432 MB). Refused at the line that crosses the limit, before any table is built."""
    import tracemalloc
    from engine.data.reader import MAX_COLUMNS
    p = tmp_path / "wide.jsonl"
    p.write_text("".join(json.dumps({f"k{4 * i + j}": "x" for j in range(4)}) + "\n" for i in range(2000)),
                 encoding="utf-8")
    assert p.stat().st_size < 130_000
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError) as e:
            prepare_dataset(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    (msg,) = e.value.problems
    assert f"line {MAX_COLUMNS // 4 + 1} brings the number of distinct keys (columns) to {MAX_COLUMNS + 1}" in msg
    assert f"more than the limit of {MAX_COLUMNS}" in msg and "one text value" in msg
    assert peak < 20 * 2**20, peak


def test_jsonl_whose_rows_miss_most_keys_is_refused(tmp_path):
    p = tmp_path / "sparse.jsonl"
    p.write_text("".join(json.dumps({"text": f"q {i}", "label": "ab"[i % 2], f"extra{i % 400}": 1}) + "\n"
                         for i in range(6000)), encoding="utf-8")
    with pytest.raises(DatasetError, match="the rows share few keys: 6000 rows use 402 distinct keys"):
        prepare_dataset(p)


def test_jsonl_rows_may_lack_an_optional_key(tmp_path):
    p = tmp_path / "opt.jsonl"
    rows = [{"text": f"question {i} about {lab}", "label": lab} for lab in "ab" for i in range(4)]
    rows[0]["answer"] = "we can help"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    d = prepare_dataset(p)
    assert d.rows == 8 and d.answers == {"a": "we can help"}


def test_csv_wider_than_the_column_limit_is_refused(tmp_path):
    from engine.data.reader import MAX_COLUMNS
    header = ["text", "label"] + [f"c{i}" for i in range(MAX_COLUMNS)]
    p = _csv(tmp_path / "wide.csv", [(f"q {i}", "ab"[i % 2], *["1"] * MAX_COLUMNS) for i in range(4)],
             header=header)
    with pytest.raises(DatasetError, match=f"the header has {MAX_COLUMNS + 2} columns, more than the limit"):
        prepare_dataset(p)


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="pyarrow not installed")
def test_parquet_wider_than_the_column_limit_is_refused_before_reading_rows(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from engine.data.reader import MAX_COLUMNS
    p = tmp_path / "wide.parquet"
    pq.write_table(pa.table({f"c{i}": [1, 2] for i in range(MAX_COLUMNS + 1)}), p)
    with pytest.raises(DatasetError, match=f"the file has {MAX_COLUMNS + 1} columns, more than the limit"):
        prepare_dataset(p)
