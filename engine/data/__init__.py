"""Datasets: read CSV/TSV/JSONL/Parquet, detect columns, validate, split, find PII, store atomically.

Public API (see docs/architecture.md, "engine.data"):
    prepare_dataset, save_dataset, load_dataset, read_labeled_file, serialize_row, sample_path,
    Example, PreparedDataset.
"""
from engine.data.prepare import prepare_dataset, read_labeled_file
from engine.data.samples import sample_path
from engine.data.serialize import serialize_row
from engine.data.store import load_dataset, save_dataset
from engine.data.types import Example, PreparedDataset

__all__ = ["prepare_dataset", "save_dataset", "load_dataset", "read_labeled_file", "serialize_row", "sample_path",
           "Example", "PreparedDataset"]
