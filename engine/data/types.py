"""Plain data shapes passed between the data layer, training, evaluation and callers."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Example:
    text: str            # what the encoder reads (tabular rows already serialized "column: value; …")
    label: str


@dataclass
class PreparedDataset:
    """A validated, split dataset. Built by `prepare_dataset`, written by `save_dataset`, read by `load_dataset`."""

    format: str                          # csv | tsv | jsonl | parquet
    kind: str                            # text | tabular
    text_column: str | None              # None for tabular
    label_column: str
    feature_columns: list[str]           # tabular: the serialized columns, in order; text: []
    train: list[Example]
    validation: list[Example]
    labels: list[str]                    # sorted, the label space
    label_counts: dict[str, int]         # over all rows
    answers: dict[str, str] = field(default_factory=dict)    # label -> customer-service answer
    pii: dict = field(default_factory=dict)                  # {"counts": {kind: n}, "examples": [{row, column, kind, masked}]}
    redacted: bool = False
    rows: int = 0
    split: dict = field(default_factory=dict)                # {"train": n, "validation": m, "seed": s, "fraction": f}
    raw_train: list[dict] | None = None      # tabular: original column values (for sklearn baselines on raw columns)
    raw_validation: list[dict] | None = None
    warnings: list[str] = field(default_factory=list)
    sha256: str = ""                         # of the registered copy (set by save_dataset / load_dataset)
    source_name: str = ""                    # file name the data was read from
    source_sha256: str = ""                  # of that file when prepared; save_dataset refuses a file changed since
    answer_column: str | None = None         # the column the answer table came from, if any
    split_column: str | None = None          # the column holding a given train/validation split, if any
    protected: list[dict] = field(default_factory=list)   # protected attributes (engine/data/protected.py), as dicts
    protected_train: list[dict] | None = None        # their values per row: kept for the fairness report, not inputs
    protected_validation: list[dict] | None = None
