"""prepare_dataset: read → detect columns → check everything → split → PII. read_labeled_file for `eval --file`.

All problems are collected and raised together as one DatasetError; nothing is written here (see store.py).
"""
from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

from engine.data import answers as answers_mod
from engine.data.checks import (Item, column_name_problems, conflict_message, drop_duplicates, duplicate_groups,
                                formula_cells, label_pii_problems, label_problems, overlap_problem, quoted,
                                repeated_rows_warning, text_problems)
from engine.data.columns import LABEL_NAMES, Columns, find_column, resolve_columns
from engine.data.pii import PiiReport, for_message, redact as redact_text
from engine.data.reader import Table, read_table, show_rows, source_name
from engine.data.serialize import serialize_row
from engine.data.split import split_indices
from engine.data.types import Example, PreparedDataset
from engine.errors import ConfigError, DatasetError

SPLIT_VALUES = {"train": "train", "training": "train", "validation": "validation", "val": "validation",
                "valid": "validation", "dev": "validation"}


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _check_args(val_fraction: float, max_chars: int) -> None:
    if not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
        raise ConfigError("val_fraction", val_fraction, "a share between 0 and 1, e.g. 0.2")
    if not isinstance(max_chars, int) or max_chars < 1:
        raise ConfigError("max_chars", max_chars, "a positive whole number of characters, e.g. 2000")


def scan_table(table: Table, pii: PiiReport, *, redact: bool, skip: tuple = ()) -> None:
    """Scan every cell of every column (except `skip`) for PII into `pii`; with `redact`, replace the values in
    place, so everything built from the table afterwards (texts, features, answers) holds tokens."""
    for c in table.columns:
        if c in skip:
            continue
        for r in table.rows:
            v = r.values.get(c, "")
            matches = pii.scan(v, r.line, c) if v else []
            if matches and redact:
                r.values[c] = redact_text(v, matches)


def _items(table: Table, cols: Columns) -> list[Item]:
    """Rows → Items: text (tabular rows serialized), stripped label, split value."""
    items = []
    for r in table.rows:
        label = r.values.get(cols.label, "").strip()
        split = r.values.get(cols.split, "").strip().lower() if cols.split else None
        if cols.kind == "text":
            items.append(Item(r.line, r.values.get(cols.text, "").strip(), label, split))
        else:
            raw = {c: r.values.get(c, "") for c in cols.features}
            items.append(Item(r.line, serialize_row(raw, cols.features), label, split, raw=raw))
    return items


def _dedupe(items: list[Item], *, kind: str, dedupe: bool, problems: list[str], warnings: list[str]) -> list[Item]:
    """The duplicate policy.

    Texts: a text repeated with the same label is dropped to its first copy, with a warning naming the rows (a
    repeat teaches nothing and would sit on both sides of the split); a text given different labels refuses the
    file, naming the rows, unless `dedupe=True`, which keeps the first copy's label (the old meaning of dedupe).
    Tables: identical rows are observations, kept (with a warning); the split keeps each group on one side.
    `dedupe=True` drops only exact repeats, same values and same label.
    """
    groups = duplicate_groups(items)
    if not groups:
        return items
    if kind == "tabular":
        if dedupe:
            same = duplicate_groups(items, with_label=True)
            items, note = drop_duplicates(items, same, what="repeated")
            warnings.append(note)
            groups = duplicate_groups(items)
        if groups:
            warnings.append(repeated_rows_warning(groups))
        return items
    conflicts = [g for g in groups if len({it.label for it in g}) > 1]
    if conflicts and not dedupe:
        problems.append(conflict_message(conflicts))
        return items
    items, note = drop_duplicates(items, groups)
    warnings.append(note)
    return items


def _split_column_problems(items: list[Item], column: str) -> list[str]:
    bad = [it for it in items if it.split not in SPLIT_VALUES]
    if not bad:
        for it in items:
            it.split = SPLIT_VALUES[it.split]
        sides = Counter(it.split for it in items)
        missing = [s for s in ("train", "validation") if not sides[s]]
        return [f"column {quoted(column, None)} has no {m} rows; mark some rows {m}, or leave out the column to "
                f"let the split be made for you" for m in missing]
    values = sorted({for_message(it.split) or "(empty)" for it in bad})
    return [f"{show_rows([it.line for it in bad])} of column {quoted(column, None)} "
            f"{'have' if len(bad) > 1 else 'has'} values other than train/validation ({', '.join(values[:5])}); use "
            f"train or validation"]


def prepare_dataset(path, *, text_column=None, label_column=None, answers_path=None, val_fraction=0.2, seed=42,
                    redact=False, dedupe=False, max_chars=2000, protected: str | None = None) -> PreparedDataset:
    """Read, validate, split and PII-scan a labeled file. Raises DatasetError with one message per problem.

    `protected` ("age<25,personal_status_sex", engine/data/protected.py): protected attributes of a table. Their
    columns leave the model's inputs (a run may take them back with use_protected=yes) and their values are kept
    per row for the fairness report.

    `redact=True` replaces PII in every column (texts, features, other columns, answers; later the stored copy)
    with [CARD], [IBAN], [EMAIL], [PHONE]; the report `pii` counts per kind and per column either way.
    Duplicates (see `_dedupe`): repeated texts are dropped to their first copy with a warning; a text given
    different labels is refused unless `dedupe=True` (keep the first copy's label); identical table rows are kept.
    """
    _check_args(val_fraction, max_chars)
    path = Path(path)
    src = source_name(path)
    table = read_table(path)
    problems, warnings = list(table.problems), []
    problems += column_name_problems(table.columns)

    cols = resolve_columns(table.columns, text_column, label_column)
    warnings += cols.warnings
    problems += formula_cells(table.rows, table.columns)
    if cols.problems:                     # without columns the row checks cannot run
        raise DatasetError(cols.problems + problems, source=src)
    attrs = _protected(protected, table, cols)

    # Every column is scanned (and, with redact, rewritten), not only the ones the model reads: the registered
    # copy keeps all columns, so a customer_email or note column must not stay in clear.
    pii = PiiReport()
    # the label column is never rewritten (tokens would merge classes): label_pii_problems scans it and refuses the
    # file when it holds personal data, so the scan above would only find what refuses the file anyway
    scan_table(table, pii, redact=redact, skip=tuple(c for c in (cols.split, cols.label) if c))
    problems += label_pii_problems(table.rows, cols.label)
    items = _items(table, cols)
    if attrs:
        for it, r in zip(items, table.rows):       # _items makes one item per row, in order
            it.protected = {a.column: r.values.get(a.column, "") for a in attrs}
    problems += text_problems(items, max_chars=max_chars, kind=cols.kind)

    items = _dedupe(items, kind=cols.kind, dedupe=dedupe, problems=problems, warnings=warnings)
    problems += label_problems(items)
    if cols.split:
        problems += _split_column_problems(items, cols.split)

    labels = sorted({it.label for it in items if it.label})
    col_answers, ans_problems = ({}, [])
    if cols.answer:
        col_answers, ans_problems = answers_mod.from_column(table.rows, cols.label, cols.answer)
    file_answers = {}
    if answers_path is not None:
        file_answers, more = answers_mod.from_file(answers_path, cols.label)
        ans_problems += more
    if file_answers:                      # the answers file is stored too (answers.json)
        where = f"{Path(answers_path).name}:answer"
        for lab in list(file_answers):
            matches = pii.scan(file_answers[lab], None, where)
            if matches and redact:
                file_answers[lab] = redact_text(file_answers[lab], matches)
    answers, merge_problems, merge_warnings = answers_mod.merge(col_answers, file_answers, labels)
    # The answers module quotes answers and labels as they are: its messages are redacted as a whole.
    problems += [redact_text(p) for p in ans_problems + merge_problems]
    warnings += [redact_text(w) for w in merge_warnings]

    if cols.split and not problems:
        train = [it for it in items if it.split == "train"]
        val = [it for it in items if it.split == "validation"]
        overlap = overlap_problem(train, val, cols.split)
        if cols.kind == "tabular":       # identical rows are observations; the user chose where they go
            warnings += overlap
        else:
            problems += overlap
        only_val = sorted({it.label for it in val} - {it.label for it in train})
        if only_val:
            problems.append(f"labels with rows only in validation: {', '.join(quoted(v) for v in only_val[:10])};"
                            f" give each label at least one train row")
    if problems:
        raise DatasetError(problems, source=src)

    if cols.split:
        split_info = {"from_column": cols.split}
    else:
        tr_idx, va_idx = split_indices([it.text for it in items], [it.label for it in items],
                                       fraction=float(val_fraction), seed=seed)
        train, val = [items[i] for i in tr_idx], [items[i] for i in va_idx]
        split_info = {}
    split_info = {"train": len(train), "validation": len(val), "seed": seed, "fraction": float(val_fraction),
                  **split_info}

    tabular = cols.kind == "tabular"
    return PreparedDataset(
        format=table.format, kind=cols.kind, text_column=cols.text, label_column=cols.label,
        feature_columns=list(cols.features),
        train=[Example(it.text, it.label) for it in train],
        validation=[Example(it.text, it.label) for it in val],
        labels=labels, label_counts=dict(sorted(Counter(it.label for it in items).items())),
        answers=answers, pii=pii.to_dict(), redacted=bool(redact), rows=len(items), split=split_info,
        raw_train=[it.raw for it in train] if tabular else None,
        raw_validation=[it.raw for it in val] if tabular else None,
        warnings=warnings, source_name=src, source_sha256=file_sha256(path),
        answer_column=cols.answer, split_column=cols.split,
        protected=[a.to_dict() for a in attrs],
        protected_train=[it.protected or {} for it in train] if attrs else None,
        protected_validation=[it.protected or {} for it in val] if attrs else None,
    )


def _protected(spec: str | None, table, cols) -> list:
    """Parse and check the protected attributes against the file, and take their columns out of the features.
    One DatasetError names every problem (a column that does not exist, a cut on a text column, …)."""
    from engine.data.protected import check, parse_protected
    from engine.data.values import numeric_columns
    attrs = parse_protected(spec)
    if not attrs:
        return []
    if cols.kind != "tabular":
        raise DatasetError(["protected attributes belong to tables (credit data): this file is text with one "
                            f"{cols.text!r} column; register it without --protected"])
    candidates = [c for c in table.columns if c not in (cols.label, cols.answer, cols.split)]
    rows = [r.values for r in table.rows]
    asked = [c for c in dict.fromkeys(a.column for a in attrs) if c in candidates]   # only these need parsing
    check(attrs, candidates, set(numeric_columns(rows, asked)), rows=rows)
    taken = {a.column for a in attrs}
    cols.features = [c for c in cols.features if c not in taken]
    if not cols.features:
        raise DatasetError(["every input column is protected: the model would have nothing to read; protect fewer "
                            "columns"])
    return attrs


def read_labeled_file(path, like: PreparedDataset) -> list[Example]:
    """Examples from another file, read with `like`'s columns and serialization (for evaluating a run on it)."""
    path = Path(path)
    src = source_name(path)
    table = read_table(path)
    problems = list(table.problems)
    present = lambda name: name if name and find_column(table.columns, name) else None  # noqa: E731
    if like.kind == "text":
        cols = resolve_columns(table.columns, present(like.text_column), present(like.label_column),
                               allow_tabular=False)
    else:
        cols = Columns(kind="tabular", label=present(like.label_column))
        if cols.label is None:
            names = [c for c in table.columns if c.strip().lower() in LABEL_NAMES]
            cols.label = names[0] if len(names) == 1 else None
        if cols.label is None:
            cols.problems.append(f"no label column {quoted(like.label_column, None)} (or label); the columns are: "
                                 f"{', '.join(for_message(c) for c in table.columns)}")
        missing = [c for c in like.feature_columns if find_column(table.columns, c) is None]
        if missing:
            cols.problems.append(f"columns {', '.join(missing)} are missing; the dataset was serialized from "
                                 f"{', '.join(like.feature_columns)}")
        cols.features = [find_column(table.columns, c) for c in like.feature_columns]
    if cols.problems:
        raise DatasetError(cols.problems + problems, source=src)

    if like.redacted:                     # evaluate on text written the way the model was trained on
        scan_table(table, PiiReport(), redact=True, skip=(cols.label,))
    items = _items(table, cols)
    if like.kind == "tabular":      # serialize under the dataset's own column names
        for it in items:
            it.raw = {name: it.raw[c] for name, c in zip(like.feature_columns, cols.features)}
            it.text = serialize_row(it.raw, like.feature_columns)
    empty = [it.line for it in items if not it.text.strip()]
    if empty:
        problems.append(f"{show_rows(empty)} {'have' if len(empty) > 1 else 'has'} empty text; fill in or delete them")
    nolabel = [it.line for it in items if not it.label]
    if nolabel:
        problems.append(f"{show_rows(nolabel)} {'have' if len(nolabel) > 1 else 'has'} no label; fill in the label")
    known = set(like.labels)
    unknown = sorted({it.label for it in items if it.label and it.label not in known})
    if unknown:
        rows = [it.line for it in items if it.label in set(unknown)]
        problems.append(f"labels not known to the dataset: {', '.join(quoted(u) for u in unknown[:10])}"
                        f"{' and more' if len(unknown) > 10 else ''} ({show_rows(rows)}); the dataset's labels are: "
                        f"{', '.join(like.labels[:40])}{' …' if len(like.labels) > 40 else ''}")
    if problems:
        raise DatasetError(problems, source=src)
    return [Example(it.text, it.label) for it in items]

