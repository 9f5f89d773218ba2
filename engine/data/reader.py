"""Read a CSV, TSV, JSONL or Parquet file into plain string rows, with the file line of each row.

Everything downstream works on `Table`: column names in file order and rows as {column: str}. Row numbers are
file line numbers where the record starts (the CSV header is line 1, so the first data row is "row 2", as in a
spreadsheet; JSONL rows are their line numbers; Parquet rows count from 1).

A table is at most MAX_COLUMNS wide, checked before any row is built: a JSON-lines file whose rows bring new keys
would otherwise become a rows × keys table far larger than the file. JSONL rows keep only their own keys (a
missing key reads as "", `values.get(column, "")`), and a file whose rows miss most keys is refused.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.data.pii import for_message, redact
from engine.errors import DatasetError

FORMATS = ("csv", "tsv", "jsonl", "parquet")
_EXT = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
        ".parquet": "parquet", ".pq": "parquet"}
MAX_SHOWN = 5          # offending rows listed per message; the rest are counted
MAX_COLUMNS = 500      # a classifier's table; the serialized text of a wider row would not fit a model anyway
SPARSE_FACTOR = 4      # JSONL: refused when the table would hold this many times more cells than the file has values
SPARSE_FLOOR = 1_000_000   # … and more cells than this (small files may be as sparse as they like)


@dataclass
class Row:
    line: int                       # where the record starts in the file (see module docstring)
    values: dict[str, str]          # column -> original value as a string (JSONL: a missing key is absent)


@dataclass
class Table:
    format: str
    columns: list[str]
    rows: list[Row]
    delimiter: str = ","            # csv/tsv: the delimiter, reused when writing a redacted copy
    records: list[dict] | None = None   # jsonl/parquet: the original objects (typed values), same order as rows
    problems: list[str] = field(default_factory=list)   # non-fatal read problems (ragged rows, bad JSON lines)


def show_rows(lines: list[int], what: str = "rows") -> str:
    """'rows 3, 7, 9' or 'rows 3, 4, 5, 6, 7 and 12 more' — messages list at most MAX_SHOWN rows."""
    shown = ", ".join(str(n) for n in lines[:MAX_SHOWN])
    more = f" and {len(lines) - MAX_SHOWN} more" if len(lines) > MAX_SHOWN else ""
    word = what if len(lines) != 1 else what.rstrip("s")
    return f"{word} {shown}{more}"


def source_name(path: Path) -> str:
    """The file name as messages and the dataset record name it (a name can hold an e-mail address too)."""
    return redact(path.name)


def detect_format(path: Path, head: str) -> str:
    """By extension, else by sniffing the first characters (a '{' means JSON lines, a tab-rich header TSV)."""
    fmt = _EXT.get(path.suffix.lower())
    if fmt:
        return fmt
    if head.lstrip().startswith("{"):
        return "jsonl"
    first = head.splitlines()[0] if head else ""
    return "tsv" if first.count("\t") > first.count(",") else "csv"


def decode(data: bytes) -> tuple[str | None, list[str]]:
    """UTF-8 (a BOM is accepted). On failure: one problem naming the line and byte offset of the first bad byte."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, ["the file is encoded as UTF-16 (Excel's 'Unicode text'); save the file as UTF-8 (CSV UTF-8)"]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        bad_lines = 0
        for raw in data.splitlines():
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                bad_lines += 1
        others = f" ({bad_lines} lines have such bytes)" if bad_lines > 1 else ""
        return None, [f"the file is not valid UTF-8: undecodable byte 0x{data[e.start]:02x} on line {line} "
                      f"at byte offset {e.start}{others}; save the file as UTF-8 (in Excel: 'CSV UTF-8')"]


def read_table(path: str | Path) -> Table:
    """Read `path`. Raises DatasetError when nothing usable can be read (missing file, bad encoding, empty)."""
    path = Path(path)
    src = source_name(path)
    if not path.is_file():
        raise DatasetError([f"file not found: {path}; check the path"], source=src)
    if _EXT.get(path.suffix.lower()) == "parquet":
        return _read_parquet(path)
    data = path.read_bytes()
    text, problems = decode(data)
    if problems:
        raise DatasetError(problems, source=src)
    if not text.strip():
        raise DatasetError(["the file is empty; it needs a header row and at least one data row"], source=src)
    fmt = detect_format(path, text[:4096])
    try:
        table = _read_jsonl(text) if fmt == "jsonl" else _read_delimited(text, fmt)
    except DatasetError as e:
        raise DatasetError(e.problems, source=src) from None
    if not table.rows:
        if table.problems:
            raise DatasetError(table.problems, source=src)
        cols = ", ".join(for_message(c) for c in table.columns)
        raise DatasetError([f"the file has only a header ({cols}) and no data rows; add at least one row per label"]
                           if fmt != "jsonl" else ["the file has no JSON objects; write one object per line"],
                           source=src)
    return table


def sniff_delimiter(text: str, fmt: str) -> str:
    """Tab for TSV; else comma, unless the header line holds clearly more of ; tab or |."""
    if fmt == "tsv":
        return "\t"
    first = text.split("\n", 1)[0]
    # A European CSV export uses ';'. Only switch when the header clearly says so.
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] > counts[","] else ","


def _read_delimited(text: str, fmt: str) -> Table:
    delim = sniff_delimiter(text, fmt)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    header: list[str] | None = None
    rows: list[Row] = []
    ragged: list[tuple[int, int]] = []
    while True:
        start = reader.line_num + 1
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise DatasetError([f"row {start}: the file cannot be parsed as {fmt.upper()} ({e}); "
                                f"check the quotes on that row"]) from None
        if not rec or all(not c.strip() for c in rec):
            continue                                    # blank line
        if header is None:
            header = [c.strip() for c in rec]
            if len(header) > MAX_COLUMNS:
                raise DatasetError([too_many_columns(f"the header has {len(header)} columns")])
            continue
        if len(rec) != len(header):
            ragged.append((start, len(rec)))
        rows.append(Row(start, {c: (rec[i] if i < len(rec) else "") for i, c in enumerate(header)}))
    header = header or []
    problems = []
    if ragged:
        lines = [r for r, _ in ragged]
        verb = "has" if len(lines) == 1 else "have"
        problems.append(f"{show_rows(lines)} {verb} a different number of fields than the header "
                        f"({len(header)} columns; e.g. row {ragged[0][0]} has {ragged[0][1]}); quote values that "
                        f"contain the delimiter {delim!r}")
    header, rows, hp = _check_header(header, rows)
    problems += hp
    return Table(fmt, header, rows, delimiter=delim, problems=problems)


def _check_header(header: list[str], rows: list[Row]) -> tuple[list[str], list[Row], list[str]]:
    problems = []
    seen: dict[str, int] = {}
    for c in header:
        seen[c] = seen.get(c, 0) + 1
    dups = [c for c, n in seen.items() if n > 1 and c]
    if dups:
        problems.append(f"the header repeats column names: {', '.join(for_message(c) for c in dups)}; give every "
                        f"column a unique name")
    if "" in seen:
        # A trailing delimiter makes an unnamed, empty column: drop it silently. One with values needs a name.
        if any(r.values.get("", "").strip() for r in rows):
            problems.append("a column has no name in the header but holds values; give it a name or delete it")
        header = [c for c in header if c]
        for r in rows:
            r.values.pop("", None)
    return header, rows, problems


def cell(v) -> str:
    """One JSON value as the text a CSV cell would hold (null → "", true → "true", lists/objects as JSON)."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(v, ensure_ascii=False)


def too_many_columns(where: str) -> str:
    return (f"{where}, more than the limit of {MAX_COLUMNS}; a dataset has the same few columns on every row (the "
            f"text, the label, and for a table its feature columns): drop the other columns, or for JSON lines put "
            f"the varying details into one text value instead of a key of their own")


def _read_jsonl(text: str) -> Table:
    columns: list[str] = []
    known: set[str] = set()
    rows: list[Row] = []
    records: list[dict] = []
    bad: list[int] = []
    values = 0
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            bad.append(i)
            continue
        if not isinstance(obj, dict):
            bad.append(i)
            continue
        for k in obj:
            if k not in known:
                if len(columns) == MAX_COLUMNS:
                    raise DatasetError([too_many_columns(f"line {i} brings the number of distinct keys (columns) "
                                                         f"to {MAX_COLUMNS + 1}")])
                known.add(k)
                columns.append(k)
        values += len(obj)
        records.append(obj)
        rows.append(Row(i, {k: cell(v) for k, v in obj.items()}))
    cells = len(rows) * len(columns)
    if cells > SPARSE_FLOOR and cells > SPARSE_FACTOR * values:
        raise DatasetError([f"the rows share few keys: {len(rows)} rows use {len(columns)} distinct keys but hold "
                            f"{values} values in all, so most keys are missing from most rows; give every row the "
                            f"same keys (null for a missing value) and drop the rare ones"])
    problems = []
    if bad:
        what = "is not a JSON object" if len(bad) == 1 else "are not JSON objects"
        problems.append(f"{show_rows(bad, 'lines')} {what}; write one object per line, "
                        f'like {{"text": "...", "label": "..."}}')
    return Table("jsonl", columns, rows, records=records, problems=problems)


def pyarrow_or_error():
    try:
        import pyarrow.parquet as pq   # optional: Parquet support only when pyarrow is installed
    except ImportError:
        raise DatasetError(["reading Parquet needs the pyarrow package: install it with `pip install pyarrow`, "
                            "or save the file as CSV"]) from None
    return pq


def _read_parquet(path: Path) -> Table:
    pq = pyarrow_or_error()
    src = source_name(path)
    try:
        width = len(pq.read_schema(path).names)
        t = pq.read_table(path) if width <= MAX_COLUMNS else None
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise DatasetError([f"the file cannot be read as Parquet ({e}); export it again"], source=src) from None
    if t is None:
        raise DatasetError([too_many_columns(f"the file has {width} columns")], source=src)
    columns = list(t.column_names)
    records = t.to_pylist()
    if not records:
        raise DatasetError([f"the file has columns ({', '.join(for_message(c) for c in columns)}) but no data rows"],
                           source=src)
    rows = [Row(i, {c: cell(rec.get(c)) for c in columns}) for i, rec in enumerate(records, start=1)]
    return Table("parquet", columns, rows, records=records)
