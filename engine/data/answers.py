"""The label → customer-service answer table: from an `answer` column and/or a second file (label,answer)."""
from __future__ import annotations

from pathlib import Path

from engine.data.columns import ANSWER_NAMES, LABEL_NAMES, find_column
from engine.data.reader import Row, read_table
from engine.errors import DatasetError


def _short(s: str, n: int = 50) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def _collect(rows: list[Row], label_col: str, answer_col: str, where: str) -> tuple[dict[str, str], list[str]]:
    table: dict[str, tuple[str, int]] = {}
    clashes: dict[str, tuple[tuple[str, int], tuple[str, int]]] = {}
    for r in rows:
        lab = r.values.get(label_col, "").strip()
        ans = r.values.get(answer_col, "").strip()
        if not lab or not ans:
            continue
        if lab not in table:
            table[lab] = (ans, r.line)
        elif table[lab][0] != ans and lab not in clashes:
            clashes[lab] = (table[lab], (ans, r.line))
    problems = [f"label {lab!r} has different answers{where}: {_short(a)!r} (row {la}) and {_short(b)!r} (row {lb}); "
                f"give every row of a label the same answer"
                for lab, ((a, la), (b, lb)) in list(clashes.items())[:5]]
    if len(clashes) > 5:
        problems.append(f"and {len(clashes) - 5} more labels have different answers{where}")
    return {k: v[0] for k, v in table.items()}, problems


def from_column(rows: list[Row], label_col: str, answer_col: str) -> tuple[dict[str, str], list[str]]:
    return _collect(rows, label_col, answer_col, f" in column {answer_col!r}")


def from_file(path: str | Path, label_column: str) -> tuple[dict[str, str], list[str]]:
    """Read a CSV/TSV/JSONL answers file with a label column (the dataset's name or a usual one) and `answer`."""
    try:
        t = read_table(path)
    except DatasetError as e:
        return {}, [f"answers file {Path(path).name}: {p}" for p in e.problems]
    lab = find_column(t.columns, label_column) or next(
        (c for c in t.columns if c.strip().lower() in LABEL_NAMES), None)
    ans = next((c for c in t.columns if c.strip().lower() in ANSWER_NAMES), None)
    missing = [n for n, c in ((f"a label column ({label_column!r} or label)", lab), ("an answer column", ans)) if c is None]
    if missing:
        return {}, [f"answers file {Path(path).name} needs {' and '.join(missing)}; its columns are: "
                    f"{', '.join(t.columns)}"]
    return _collect(t.rows, lab, ans, f" in answers file {Path(path).name}")


def merge(column: dict[str, str], file: dict[str, str], labels: list[str]) -> tuple[dict[str, str], list[str], list[str]]:
    """File entries win over the column. Returns (answers, problems, warnings)."""
    problems, warnings = [], []
    differ = [k for k in file if k in column and column[k] != file[k]]
    if differ:
        warnings.append(f"the answers file replaces the answer column for {len(differ)} label(s): "
                        f"{', '.join(differ[:5])}")
    answers = {**column, **file}
    known = set(labels)
    unknown = sorted(k for k in answers if k not in known)
    if unknown:
        problems.append(f"answers are given for labels that no row has: {', '.join(repr(u) for u in unknown[:10])}"
                        f"{' and more' if len(unknown) > 10 else ''}; the labels are: {_list(labels)}; fix the label "
                        f"names in the answers")
    missing = [lab for lab in labels if lab not in answers]
    if answers and missing:
        warnings.append(f"{len(missing)} label(s) have no answer ({', '.join(missing[:5])}"
                        f"{' …' if len(missing) > 5 else ''}); the bot will reply with its fallback for them")
    return {k: v for k, v in answers.items() if k in known}, problems, warnings


def _list(labels: list[str], n: int = 30) -> str:
    return ", ".join(labels[:n]) + (f" and {len(labels) - n} more" if len(labels) > n else "")
