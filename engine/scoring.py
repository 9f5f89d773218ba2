"""Score a file with a run's served model, in chunks, in bounded memory.

Tables (credit): one output row per input row, in input order — `row` (1-based) or the id column, `probability` of
the label the run treats as positive (the adverse outcome), `decision` at the run's chosen threshold, and for every
adverse decision its principal reasons `reason_1`…`reason_4` (ServedModel.explain: what answers is what is
explained). Text (intents): intent, confidence and whether the answer would fall back to a human.

The input is read and the output written chunk by chunk (a million rows never sit in memory together); the output
goes to a temporary name and is renamed only when complete, so a failure leaves no half-written file. The drift of
what was scored against the training rows is counted along the way (engine/monitoring/drift.py).
"""
from __future__ import annotations

import csv
import io
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from engine.data.columns import find_column
from engine.data.reader import cell, sniff_delimiter
from engine.data.csv_safe import escape_cell
from engine.errors import DatasetError
from engine.served.model import ServedModel

CHUNK_ROWS = 2000
MAX_REASONS = 4
HISTOGRAM_BINS = 20
FORMATS = {".csv": ",", ".tsv": "\t", ".txt": ",", ".jsonl": None, ".json": None}


@dataclass
class Summary:
    rows: int = 0
    counts: Counter = field(default_factory=Counter)
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(HISTOGRAM_BINS, dtype=int))
    reasons: Counter = field(default_factory=Counter)          # column → declined rows it is a reason for
    unseen: Counter = field(default_factory=Counter)           # column → rows with a category training never saw
    adverse_rows: list = field(default_factory=list)           # (row number or id, probability) of the first few
    labels: list = field(default_factory=list)                 # a labelled file: the true labels, for the metrics
    probabilities: list = field(default_factory=list)
    decisions: list = field(default_factory=list)
    reasons_s: float = 0.0
    predict_s: float = 0.0
    fallback: int = 0                                          # text: rows whose answer would go to a human


# ---- reading ------------------------------------------------------------------------------------------------------
def read_header(path: Path) -> list[str]:
    return next(read_chunks(path, 1), ([], []))[0]


def read_chunks(path: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[tuple[list[str], list[dict]]]:
    """(header, rows as {column: text}) chunk by chunk; CSV/TSV (delimiter from the extension or the header) or
    JSON lines. Undecodable bytes, a ragged row or a bad JSON line raise DatasetError naming the line."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DatasetError([f"{path.name}: score a CSV, TSV or JSONL file (got {suffix or 'no extension'})"])
    with open(path, "rb") as raw:
        f = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="", errors="strict")
        try:
            yield from (_jsonl(f, chunk_rows) if FORMATS[suffix] is None else _delimited(f, suffix, chunk_rows))
        except UnicodeDecodeError:
            raise DatasetError([f"{path.name} is not UTF-8 text; save it as UTF-8 CSV and try again"]) from None


def _delimited(f, suffix: str, chunk_rows: int):
    first = f.readline()
    if not first.strip():
        raise DatasetError(["the file is empty; it needs a header row and at least one row to score"])
    delim = sniff_delimiter(first, "tsv" if suffix == ".tsv" else "csv")
    header = [c.strip() for c in next(csv.reader([first], delimiter=delim))]
    reader = csv.reader(f, delimiter=delim)
    chunk: list[dict] = []
    for line, rec in enumerate(reader, start=2):
        if not rec or all(not c.strip() for c in rec):
            continue
        if len(rec) != len(header):
            raise DatasetError([f"row {line} has {len(rec)} fields but the header has {len(header)}; quote values "
                                f"that contain {delim!r}"])
        chunk.append(dict(zip(header, rec)))
        if len(chunk) >= chunk_rows:
            yield header, chunk
            chunk = []
    yield header, chunk


def _jsonl(f, chunk_rows: int):
    header: list[str] | None = None
    chunk: list[dict] = []
    for line_no, line in enumerate(f, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DatasetError([f"line {line_no} is not JSON ({e.msg})"]) from None
        if not isinstance(obj, dict):
            raise DatasetError([f"line {line_no} is not a JSON object"])
        if header is None:
            header = list(obj)
        chunk.append({k: cell(v) for k, v in obj.items()})
        if len(chunk) >= chunk_rows:
            yield header, chunk
            chunk = []
    yield header or [], chunk


# ---- what the run expects -----------------------------------------------------------------------------------------
@dataclass
class Plan:
    kind: str                         # tabular | text
    columns: dict[str, str]           # the run's column → the file's column
    extra: list[str]                  # columns of the file the run does not read (ignored)
    label_column: str | None          # present: the file is labelled, metrics too
    id_column: str | None

    def row(self, raw: dict) -> dict:
        """One row of the file as the run reads it: {run column: the file's value}."""
        return {c: raw.get(f, "") for c, f in self.columns.items()}


def plan_columns(served: ServedModel, header: list[str], id_column: str | None) -> Plan:
    """Match the file's columns to what the run reads; refuse a missing column, or a text file for a tabular run and
    the reverse, saying what the run expects."""
    rec = served.record
    label = rec.get("label_column") or ""
    if id_column is not None and find_column(header, id_column) is None:
        raise DatasetError([f"no id column {id_column!r} in the file; its columns are: {', '.join(header)}"])
    idc = find_column(header, id_column) if id_column else None
    if served.inputs.kind == "tabular":
        want = list(served.inputs.columns)
        found = {c: find_column(header, c) for c in want}
        missing = [c for c, f in found.items() if f is None]
        if missing:
            hint = (" — it looks like a file of texts; this run scores a table" if len(header) <= 2 and
                    any(h.strip().lower() in ("text", "question", "message") for h in header) else "")
            raise DatasetError([f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}{hint}; this "
                                f"run reads the columns {', '.join(want)}"])
        used = set(found.values()) | {idc}
        lab = find_column(header, label) if label else None
        extra = [h for h in header if h not in used and h != lab]
        return Plan("tabular", found, extra, lab, idc)
    text = rec.get("text_column") or "text"
    col = find_column(header, text) or next((find_column(header, n) for n in ("text", "question", "message")
                                             if find_column(header, n)), None)
    others = [h for h in header if h not in (col, idc)]
    if col is None and len(others) == 1:
        col = others[0]
    if col is None:
        raise DatasetError([f"this run answers questions: it reads one text column ({text}); the file has "
                            f"{len(header)} columns ({', '.join(header[:8])}{'…' if len(header) > 8 else ''}) — a "
                            "table of applicants needs a credit run"])
    lab = find_column(header, label) if label else None
    extra = [h for h in header if h not in (col, idc, lab)]
    return Plan("text", {"text": col}, extra, lab, idc)


# ---- scoring ------------------------------------------------------------------------------------------------------
def score_file(served: ServedModel, path: str | Path, out: str | Path, *, id_column: str | None = None,
               reasons: bool = True, chunk_rows: int = CHUNK_ROWS, drift=None) -> dict:
    """Score `path` into `out` (CSV, spreadsheet-safe, written whole or not at all). → the summary: rows, counts,
    positive_label, threshold, out_path, seconds, extra_columns, unseen categories, most frequent reasons, a
    histogram of probabilities, the first declined rows, drift (when the run has a reference), metrics (a
    labelled file)."""
    t0 = time.perf_counter()
    path, out = Path(path), Path(out)
    if not path.is_file():
        raise DatasetError([f"no file {path.name}; give the path of the CSV, TSV or JSONL file to score"])
    header = read_header(path)
    if not header:
        raise DatasetError([f"{path.name} is empty; it needs a header row and at least one row to score"])
    plan = plan_columns(served, header, id_column)
    decision = served.decision() if plan.kind == "tabular" else {}
    tally = drift.tally() if drift is not None and plan.kind == "tabular" else None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    summary = Summary()
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow([escape_cell(c) for c in _output_header(plan)])   # the id column is the file's own name
            for _, chunk in read_chunks(path, chunk_rows):
                if chunk:
                    rows_out = (_score_table(served, plan, chunk, summary, decision, reasons, tally)
                                if plan.kind == "tabular" else _score_text(served, plan, chunk, summary))
                    writer.writerows([[escape_cell(c) for c in r] for r in rows_out])
        if summary.rows == 0:
            raise DatasetError([f"{path.name} has a header but no rows to score"])
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    result = _summary_dict(served, plan, summary, decision, out, time.perf_counter() - t0)
    if tally is not None:
        result["drift"] = tally.result()
    return result


def _output_header(plan: Plan) -> list[str]:
    first = plan.id_column or "row"
    if plan.kind == "tabular":
        return [first, "probability", "decision"] + [f"reason_{i}" for i in range(1, MAX_REASONS + 1)]
    return [first, "intent", "confidence", "fallback"]


def _ids(plan: Plan, chunk: list[dict], start: int) -> list[str]:
    if plan.id_column:
        return [r.get(plan.id_column, "") for r in chunk]
    return [str(start + i + 1) for i in range(len(chunk))]


def _score_table(served: ServedModel, plan: Plan, chunk: list[dict], s: Summary, decision: dict, want_reasons: bool,
                 tally) -> list[list]:
    rows = [plan.row(r) for r in chunk]
    ids = _ids(plan, chunk, s.rows)
    t = time.perf_counter()
    p = served.positive_proba(rows)
    s.predict_s += time.perf_counter() - t
    adverse = p >= decision["threshold"]
    labels = [decision["positive_label"] if a else decision["negative_label"] for a in adverse]
    reasons: list[list[str]] = [[] for _ in rows]
    if want_reasons and adverse.any():
        t = time.perf_counter()
        idx = np.flatnonzero(adverse)
        for i, rs in zip(idx, served.explain([rows[i] for i in idx], MAX_REASONS)):
            reasons[i] = rs
        s.reasons_s += time.perf_counter() - t
    for col, n in served.unseen_categories(rows).items():
        s.unseen[col] += n
    if tally is not None:
        tally.add(rows, p)
    s.histogram += np.histogram(p, bins=HISTOGRAM_BINS, range=(0.0, 1.0))[0]
    s.counts.update(labels)
    for i, rs in enumerate(reasons):
        s.reasons.update(r.split(":", 1)[0] for r in rs)
        if adverse[i] and len(s.adverse_rows) < 50:
            s.adverse_rows.append({"row": ids[i], "n": s.rows + i + 1, "probability": round(float(p[i]), 4),
                                   "reasons": rs})
    if plan.label_column:
        s.labels += [r.get(plan.label_column, "") for r in chunk]
        s.probabilities += p.tolist()
        s.decisions += labels
    s.rows += len(rows)
    return [[ids[i], f"{p[i]:.4f}", labels[i]] + (reasons[i] + [""] * MAX_REASONS)[:MAX_REASONS]
            for i in range(len(rows))]


def _score_text(served: ServedModel, plan: Plan, chunk: list[dict], s: Summary) -> list[list]:
    texts = [r.get(plan.columns["text"], "") for r in chunk]
    ids = _ids(plan, chunk, s.rows)
    t = time.perf_counter()
    proba = served.predict_proba(texts)
    s.predict_s += time.perf_counter() - t
    best = proba.argmax(axis=1)
    conf = proba.max(axis=1)
    threshold = served.answer_threshold()
    intents = [served.labels[i] for i in best]
    fallback = conf < threshold
    s.counts.update(intents)
    s.fallback += int(fallback.sum())
    s.histogram += np.histogram(conf, bins=HISTOGRAM_BINS, range=(0.0, 1.0))[0]
    if plan.label_column:
        s.labels += [r.get(plan.label_column, "") for r in chunk]
        s.decisions += intents
    s.rows += len(texts)
    return [[ids[i], intents[i], f"{conf[i]:.4f}", "yes" if fallback[i] else "no"] for i in range(len(texts))]


def _summary_dict(served: ServedModel, plan: Plan, s: Summary, decision: dict, out: Path, seconds: float) -> dict:
    res = {"rows": s.rows, "kind": plan.kind, "out_path": str(out), "seconds": round(seconds, 3),
           "predict_s": round(s.predict_s, 3), "extra_columns": plan.extra, "histogram": s.histogram.tolist(),
           "histogram_bins": HISTOGRAM_BINS}
    if plan.kind == "tabular":
        res.update(positive_label=decision["positive_label"], threshold=decision["threshold"],
                   counts={decision["negative_label"]: s.counts.get(decision["negative_label"], 0),
                           decision["positive_label"]: s.counts.get(decision["positive_label"], 0)},
                   unseen_categories=dict(s.unseen), top_reasons=s.reasons.most_common(5),
                   reasons_s=round(s.reasons_s, 3), declined=s.adverse_rows[:20])
    else:
        res.update(counts=dict(s.counts.most_common()), fallback=s.fallback,
                   fallback_rate=round(s.fallback / max(s.rows, 1), 4), threshold=served.answer_threshold())
    if plan.label_column and s.labels:
        res["metrics"] = _metrics(served, plan, s, decision)
    return res


def _metrics(served: ServedModel, plan: Plan, s: Summary, decision: dict) -> dict:
    """What `eval --file` gives, for a labelled file (rows whose label the run does not know are left out)."""
    from engine.metrics import binary_scores, metrics
    labels = list(served.labels)
    keep = [i for i, y in enumerate(s.labels) if y in labels]
    if not keep:
        return {"error": f"none of the file's labels is one the run knows ({', '.join(labels)})"}
    y = [s.labels[i] for i in keep]
    pred = [s.decisions[i] for i in keep]
    out = {k: v for k, v in metrics(y, pred, labels).items() if k in ("accuracy", "macro_f1", "per_class")}
    out["rows"] = len(keep)
    if plan.kind == "tabular":
        p = np.asarray([s.probabilities[i] for i in keep])
        out.update(binary_scores(np.asarray(y) == decision["positive_label"], p))
    return out


def rows_at(served: ServedModel, path: Path, numbers: Sequence[int]) -> dict[int, dict]:
    """{row number (1-based): the row as the run reads it ({column: value})} for a few rows of a scored file."""
    plan = plan_columns(served, read_header(Path(path)), None)
    want, out, seen = set(numbers), {}, 0
    for _, chunk in read_chunks(Path(path)):
        for i, raw in enumerate(chunk, start=seen + 1):
            if i in want:
                out[i] = plan.row(raw)
        seen += len(chunk)
        if len(out) == len(want):
            break
    return out


def histogram_png(res: dict, path: Path) -> Path:
    """Bars of the scored probabilities (or confidences) with the decision threshold marked."""
    from engine.charts import figure, save
    counts = np.asarray(res["histogram"])
    edges = np.linspace(0.0, 1.0, len(counts) + 1)
    fig, ax = figure((6, 3))
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="#4c72b0", edgecolor="white")
    ax.axvline(res["threshold"], color="#c44e52", linestyle="--", label=f"threshold {res['threshold']:.2f}")
    what = f"P({res['positive_label']})" if res.get("kind") == "tabular" else "confidence"
    ax.set_xlabel(what)
    ax.set_ylabel("rows")
    ax.set_title(f"{res['rows']:,} rows scored")
    ax.legend(loc="upper right", fontsize=8)
    return save(fig, path)
