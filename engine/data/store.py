"""Write and read a registered dataset folder: source.<ext>, train.jsonl, validation.jsonl, answers.json, meta.json.

Writing is atomic: everything goes into a hidden temp folder next to `dest_dir`, which is renamed into place only
when complete. Any failure removes the temp folder, so there is either a whole dataset folder or none.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

from engine.data.pii import redact as redact_text
from engine.data.prepare import file_sha256
from engine.data.reader import pyarrow_or_error, read_table
from engine.data.types import Example, PreparedDataset
from engine.errors import DatasetError

META_VERSION = 1
_EXAMPLE_FIELDS = ("train", "validation", "raw_train", "raw_validation", "answers", "protected_train",
                   "protected_validation")


def save_dataset(prepared: PreparedDataset, source_path, dest_dir) -> str:
    """Register `prepared` (read from `source_path`) at `dest_dir`. Returns the sha256 of the stored copy."""
    dest = Path(dest_dir)
    source_path = Path(source_path)
    if dest.exists():
        raise DatasetError([f"{dest} already exists; choose another dataset name"], source=source_path.name)
    if prepared.source_sha256 and file_sha256(source_path) != prepared.source_sha256:
        raise DatasetError(["the file changed after it was checked; register it again"], source=source_path.name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        copy = tmp / f"source.{prepared.format}"
        if prepared.redacted:
            _write_redacted(prepared, source_path, copy)
        else:
            shutil.copyfile(source_path, copy)
        digest = file_sha256(copy)
        _write_examples(tmp / "train.jsonl", prepared.train, prepared.raw_train, prepared.protected_train)
        _write_examples(tmp / "validation.jsonl", prepared.validation, prepared.raw_validation,
                        prepared.protected_validation)
        _write_json(tmp / "answers.json", prepared.answers)
        meta = {k: v for k, v in dataclasses.asdict(prepared).items() if k not in _EXAMPLE_FIELDS}
        meta.update(sha256=digest, source_file=copy.name, meta_version=META_VERSION)
        _write_json(tmp / "meta.json", meta)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    prepared.sha256 = digest
    return digest


def protected_names(dir) -> list[str]:
    """The protected attributes a stored dataset was registered with (its meta.json), without loading its rows."""
    try:
        meta = json.loads((Path(dir) / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return []
    return [p.get("name") for p in meta.get("protected") or [] if p.get("name")]


def load_dataset(dir) -> PreparedDataset:
    """Read a folder written by save_dataset; the stored copy must still match its sha256."""
    d = Path(dir)
    try:
        meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        answers = json.loads((d / "answers.json").read_text(encoding="utf-8"))
        train, raw_train, prot_train = _read_examples(d / "train.jsonl")
        val, raw_val, prot_val = _read_examples(d / "validation.jsonl")
    except FileNotFoundError as e:
        raise DatasetError([f"the dataset folder is incomplete ({Path(e.filename).name} is missing); "
                            f"register the dataset again"], source=str(d)) from None
    copy = d / meta.get("source_file", f"source.{meta.get('format', 'csv')}")
    if not copy.is_file() or file_sha256(copy) != meta.get("sha256"):
        raise DatasetError([f"the registered copy {copy.name} is missing or was changed (sha256 differs); "
                            f"register the dataset again"], source=str(d))
    names = {f.name for f in dataclasses.fields(PreparedDataset)}
    fields = {k: v for k, v in meta.items() if k in names and k not in _EXAMPLE_FIELDS}
    tabular = meta.get("kind") == "tabular"
    protected = bool(meta.get("protected"))
    return PreparedDataset(**fields, train=train, validation=val, answers=answers,
                           raw_train=raw_train if tabular else None, raw_validation=raw_val if tabular else None,
                           protected_train=prot_train if protected else None,
                           protected_validation=prot_val if protected else None)


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def _write_examples(path: Path, examples: list[Example], raw: list[dict] | None,
                    protected: list[dict] | None = None) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i, ex in enumerate(examples):
            rec = {"text": ex.text, "label": ex.label}
            if raw is not None:
                rec["raw"] = raw[i]
            if protected is not None:
                rec["protected"] = protected[i]
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def _read_examples(path: Path) -> tuple[list[Example], list[dict], list[dict]]:
    examples, raw, protected = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rec = json.loads(line)
                examples.append(Example(rec["text"], rec["label"]))
                raw.append(rec.get("raw"))
                protected.append(rec.get("protected") or {})
    return examples, raw, protected


def _write_redacted(prepared: PreparedDataset, source: Path, dest: Path) -> None:
    """The registered copy rewritten from the source with PII replaced in every column, not only the ones the
    model reads (a customer_email or note column would otherwise be stored in clear). All columns are kept, so
    the copy still has the file's shape. The label column is left as it is: prepare_dataset refuses a redacted
    dataset whose labels hold PII. Typed JSONL/Parquet values stay typed unless they held PII."""
    table = read_table(source)
    keep = {prepared.label_column, prepared.split_column}
    if table.format in ("csv", "tsv"):
        with open(dest, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, delimiter=table.delimiter, lineterminator="\n")
            w.writerow(table.columns)
            for r in table.rows:
                w.writerow([r.values[c] if c in keep else redact_text(r.values[c]) for c in table.columns])
        return
    records = [{k: (v if k in keep else _redact_value(v)) for k, v in rec.items()} for rec in table.records or []]
    if table.format == "jsonl":
        with open(dest, "w", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    else:
        pq = pyarrow_or_error()
        import pyarrow as pa
        # A Parquet column has one type: where a typed value became redacted text, the whole column becomes text.
        mixed = {k for old, new in zip(table.records or [], records) for k in new
                 if isinstance(new[k], str) and not isinstance(old.get(k), str)}
        if mixed:
            records = [{k: (_as_text(v) if k in mixed else v) for k, v in rec.items()} for rec in records]
        pq.write_table(pa.Table.from_pylist(records), dest)


def _as_text(v):
    if v is None or isinstance(v, str):
        return v
    return str(v) if isinstance(v, (int, float, bool)) else json.dumps(v, ensure_ascii=False)


def _redact_value(v):
    """A JSON/Parquet value with PII replaced: strings in place; a number or nested value that holds PII (a card
    number stored as an integer, an e-mail inside a list) becomes its redacted text."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, str):
        return redact_text(v)
    text = str(v) if isinstance(v, (int, float)) else json.dumps(v, ensure_ascii=False)
    redacted = redact_text(text)
    return v if redacted == text else redacted
