"""Validation checks. Each returns messages (one per problem) naming the rows at fault and how to fix them.

They never raise: `prepare_dataset` runs them all and raises one DatasetError with every message, so a user
fixes the file once instead of once per problem.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from engine.data.reader import MAX_SHOWN, Row, show_rows

_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d+)*|[.,]\d+)(?:[eE][+-]?\d+)?%?")
FORMULA_START = ("=", "+", "-", "@")


@dataclass
class Item:
    """One data row on its way to becoming an Example."""
    line: int
    text: str
    label: str
    split: str | None = None
    raw: dict | None = None          # tabular: feature values as in the file


def _short(s: str, n: int = 40) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def formula_cells(rows: list[Row], columns: list[str]) -> list[str]:
    """Cells a spreadsheet would execute (=, +, -, @ first), except plain numbers such as -5 or +3.2."""
    hits = []
    for r in rows:
        for c in columns:
            v = r.values.get(c, "")
            if v[:1] in FORMULA_START and not _NUMBER.fullmatch(v.strip()):
                hits.append((r.line, c, v))
    if not hits:
        return []
    shown = "; ".join(f"row {ln} column {c} ({_short(v)!r})" for ln, c, v in hits[:MAX_SHOWN])
    more = f"; and {len(hits) - MAX_SHOWN} more" if len(hits) > MAX_SHOWN else ""
    return [f"{len(hits)} cell{'s' if len(hits) != 1 else ''} start with = + - or @ and would run as spreadsheet "
            f"formulas: {shown}{more}; remove the leading character or quote it (e.g. put ' in front)"]


def label_problems(items: list[Item]) -> list[str]:
    out = []
    empty = [it.line for it in items if not it.label]
    if empty:
        out.append(f"{show_rows(empty)} {'have' if len(empty) > 1 else 'has'} no label; fill in the label or "
                   f"delete the row")
    counts = Counter(it.label for it in items if it.label)
    if len(counts) == 1:
        (only,) = counts
        out.append(f"every row has the same label ({only!r}); a classifier needs at least two labels")
    elif not counts and items:
        out.append("no row has a label; fill in the label column")
    small = sorted(lab for lab, n in counts.items() if n < 2)
    if small and len(counts) > 1:
        names = ", ".join(repr(s) for s in small[:10]) + (f" and {len(small) - 10} more" if len(small) > 10 else "")
        out.append(f"{len(small)} label{'s have' if len(small) != 1 else ' has'} fewer than 2 rows ({names}); "
                   f"add more examples of each or remove those rows, since one example cannot be both learned "
                   f"and checked")
    return out


def text_problems(items: list[Item], *, max_chars: int, kind: str) -> list[str]:
    out = []
    empty = [it.line for it in items if not it.text.strip()]
    if empty:
        what = "text" if kind == "text" else "values (every feature is empty)"
        out.append(f"{show_rows(empty)} {'have' if len(empty) > 1 else 'has'} empty {what}; fill in or delete "
                   f"{'them' if len(empty) > 1 else 'it'}")
    long = [(it.line, len(it.text)) for it in items if len(it.text) > max_chars]
    if long:
        shown = ", ".join(f"row {ln} ({n} characters)" for ln, n in long[:MAX_SHOWN])
        more = f" and {len(long) - MAX_SHOWN} more" if len(long) > MAX_SHOWN else ""
        out.append(f"{len(long)} row{'s are' if len(long) != 1 else ' is'} longer than the limit of {max_chars} "
                   f"characters: {shown}{more}; shorten them or raise max_chars")
    return out


def dup_key(text: str) -> str:
    return " ".join(text.split())


def duplicate_groups(items: list[Item]) -> list[list[Item]]:
    """Groups of rows whose texts are equal after collapsing whitespace (file order, first copy first)."""
    groups: dict[str, list[Item]] = defaultdict(list)
    for it in items:
        if it.text.strip():
            groups[dup_key(it.text)].append(it)
    return [g for g in groups.values() if len(g) > 1]


def duplicate_message(groups: list[list[Item]]) -> str:
    extra = sum(len(g) - 1 for g in groups)
    shown = []
    for g in groups[:2]:
        labels = sorted({it.label for it in g})
        conflict = f", with different labels {', '.join(labels)}" if len(labels) > 1 else ""
        shown.append(f"{_short(g[0].text)!r} on rows {', '.join(str(it.line) for it in g[:MAX_SHOWN])}{conflict}")
    more = f"; and {len(groups) - 2} more texts" if len(groups) > 2 else ""
    return (f"{extra} duplicate row{'s' if extra != 1 else ''} ({len(groups)} text{'s' if len(groups) != 1 else ''} "
            f"appear more than once): {'; '.join(shown)}{more}; delete the copies, or pass dedupe=True "
            f"(in Slack: dedupe=yes) to keep only the first copy")


def drop_duplicates(items: list[Item], groups: list[list[Item]]) -> tuple[list[Item], str]:
    drop = {id(it) for g in groups for it in g[1:]}
    kept = [it for it in items if id(it) not in drop]
    conflicts = sum(1 for g in groups if len({it.label for it in g}) > 1)
    note = (f"; {conflicts} of them had a different label than the first copy, whose label was kept"
            if conflicts else "")
    lines = sorted(it.line for g in groups for it in g[1:])
    return kept, f"dropped {len(drop)} duplicate row{'s' if len(drop) != 1 else ''} ({show_rows(lines)}){note}"


def overlap_problem(train: list[Item], val: list[Item], split_column: str) -> list[str]:
    """Texts (case-insensitive, whitespace collapsed) present on both sides of a file-given split."""
    from engine.data.split import text_key

    tr: dict[str, int] = {}
    for it in train:
        tr.setdefault(text_key(it.text), it.line)
    both = [(tr[text_key(it.text)], it.line, it.text) for it in val if text_key(it.text) in tr]
    if not both:
        return []
    shown = "; ".join(f"{_short(t)!r} (train row {a}, validation row {b})" for a, b, t in both[:MAX_SHOWN])
    more = f"; and {len(both) - MAX_SHOWN} more" if len(both) > MAX_SHOWN else ""
    return [f"{len(both)} text{'s are' if len(both) != 1 else ' is'} in both train and validation (column "
            f"{split_column!r}): {shown}{more}; keep each text on one side only, or leave out the {split_column!r} "
            f"column to let the split be made for you"]
