"""Validation checks. Each returns messages (one per problem) naming the rows at fault and how to fix them.

They never raise: `prepare_dataset` runs them all and raises one DatasetError with every message, so a user
fixes the file once instead of once per problem. A message quotes a cell, text, label or column name only through
`quoted` (PII replaced by its token), whatever the redact setting: messages reach Slack threads and the audit log.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from engine.data.pii import find_pii, for_message, mask
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
    protected: dict | None = None    # tabular: protected attributes' values (for the fairness report only)


def quoted(value: str, limit: int | None = 40) -> str:
    """`value` as a message may quote it: redacted, whitespace collapsed, cut, in quotes."""
    return repr(for_message(value, limit))


# What a spreadsheet would evaluate after a leading + - or @ (a leading = always counts):
_FUNCTION_CALL = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*\s*\(")             # SUM(, HYPERLINK(, cmd.exe(
_DDE = re.compile(r"^[A-Za-z0-9_.]+\s*\|")                                # cmd|' /C calc'!A0
_CELL_REF = re.compile(r"\$?[A-Za-z]{1,3}\$?\d+(?::\$?[A-Za-z]{1,3}\$?\d+)?")  # A1, $B$2, A1:B3
_EXPRESSION = re.compile(r"^[\s0-9.,$A-Za-z:()%+\-*/^&<>=]+$")
_OPERATOR_BETWEEN = re.compile(r"[\w)%]\s*[-+*/^&<>=]\s*[\w($.]")
_ADJACENT = re.compile(r"[\w).%]\s+[\w($]")     # two operands with no operator: text such as "+1 (555) 123-4567"


def is_formula(value: str) -> bool:
    """True for a cell a spreadsheet would run as a formula, not for customer text that merely starts with - + @.

    "=…" always counts. After + - or @, only what would evaluate: a function call ("@SUM(A1)", "+HYPERLINK("),
    a DDE call ("-cmd|' /C calc'!A0"), or an expression of numbers and cell references with an operator or a
    reference ("+A1*2", "-2+3", "@A1"). "-20 charged twice", "+1 for the app", "@support help", "-5" and
    "+44 20 7946 0958" are text. Leading spaces, tabs and line breaks are looked through, as spreadsheets do.
    """
    v = value.lstrip(" \t\r\n")
    if not v or v[0] not in FORMULA_START:
        return False
    if v[0] == "=":
        return len(v) > 1
    if _NUMBER.fullmatch(v.strip()):
        return False
    rest = v.lstrip("+-@").lstrip()
    if _FUNCTION_CALL.match(rest) or _DDE.match(rest):
        return True
    if not _EXPRESSION.match(rest):
        return False
    # Every letter must belong to a cell reference: words make it text ("+1 for the app").
    without_refs = _CELL_REF.sub("0", rest)
    if re.search(r"[A-Za-z]", without_refs) or _ADJACENT.search(rest):
        return False
    return bool(_CELL_REF.search(rest)) or bool(_OPERATOR_BETWEEN.search(rest))


def formula_cells(rows: list[Row], columns: list[str]) -> list[str]:
    """Cells a spreadsheet would execute as formulas (see is_formula)."""
    hits = []
    for r in rows:
        for c in columns:
            v = r.values.get(c, "")
            if is_formula(v):
                hits.append((r.line, c, v))
    if not hits:
        return []
    shown = "; ".join(f"row {ln} column {for_message(c, None)} ({quoted(v)})" for ln, c, v in hits[:MAX_SHOWN])
    more = f"; and {len(hits) - MAX_SHOWN} more" if len(hits) > MAX_SHOWN else ""
    return [f"{len(hits)} cell{'s' if len(hits) != 1 else ''} would run as spreadsheet formulas (they start with "
            f"= or with + - @ followed by a formula): {shown}{more}; remove the leading character or quote it "
            f"(e.g. put ' in front)"]


def label_problems(items: list[Item]) -> list[str]:
    out = []
    empty = [it.line for it in items if not it.label]
    if empty:
        out.append(f"{show_rows(empty)} {'have' if len(empty) > 1 else 'has'} no label; fill in the label or "
                   f"delete the row")
    counts = Counter(it.label for it in items if it.label)
    if len(counts) == 1:
        (only,) = counts
        out.append(f"every row has the same label ({quoted(only)}); a classifier needs at least two labels")
    elif not counts and items:
        out.append("no row has a label; fill in the label column")
    small = sorted(lab for lab, n in counts.items() if n < 2)
    if small and len(counts) > 1:
        names = ", ".join(quoted(s) for s in small[:10]) + (f" and {len(small) - 10} more" if len(small) > 10 else "")
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


def duplicate_groups(items: list[Item], with_label: bool = False) -> list[list[Item]]:
    """Groups of rows whose texts are equal after collapsing whitespace (file order, first copy first);
    `with_label`: and whose labels are equal too."""
    groups: dict[tuple, list[Item]] = defaultdict(list)
    for it in items:
        if it.text.strip():
            groups[(dup_key(it.text), it.label if with_label else None)].append(it)
    return [g for g in groups.values() if len(g) > 1]


def conflict_message(conflicts: list[list[Item]]) -> str:
    """The one duplicate problem that refuses a file: the same text given different labels."""
    shown = []
    for g in conflicts[:3]:
        rows = ", ".join(f"{it.line} ({for_message(it.label)})" for it in g[:MAX_SHOWN])
        shown.append(f"{quoted(g[0].text)} on rows {rows}")
    more = f"; and {len(conflicts) - 3} more texts" if len(conflicts) > 3 else ""
    n = len(conflicts)
    return (f"{n} text{'s are' if n != 1 else ' is'} given different labels: {'; '.join(shown)}{more}; give each "
            f"text one label (relabel or delete the copies), or pass dedupe=True (in Slack: dedupe=yes) to keep the "
            f"first copy's label")


def drop_duplicates(items: list[Item], groups: list[list[Item]], what: str = "duplicate") -> tuple[list[Item], str]:
    """Keep the first copy of each group; the warning names the rows dropped and the rows kept."""
    drop = {id(it) for g in groups for it in g[1:]}
    kept = [it for it in items if id(it) not in drop]
    conflicts = [g for g in groups if len({it.label for it in g}) > 1]
    note = ""
    if conflicts:
        rows = ", ".join(str(g[0].line) for g in conflicts[:MAX_SHOWN])
        note = (f"; {len(conflicts)} of them had copies with a different label, and the first copy's label was "
                f"kept (rows {rows}{' …' if len(conflicts) > MAX_SHOWN else ''})")
    lines = sorted(it.line for g in groups for it in g[1:])
    firsts = sorted(g[0].line for g in groups)
    n = len(drop)
    return kept, (f"dropped {n} {what} row{'s' if n != 1 else ''} ({show_rows(lines)}), keeping the first copy of "
                  f"each ({show_rows(firsts)}){note}")


def repeated_rows_warning(groups: list[list[Item]]) -> str:
    """Tabular: identical feature rows are observations (two customers with the same profile), not mistakes."""
    extra = sum(len(g) - 1 for g in groups)
    mixed = sum(1 for g in groups if len({it.label for it in g}) > 1)
    shown = "; ".join(f"rows {', '.join(str(it.line) for it in g[:MAX_SHOWN])}" for g in groups[:3])
    more = f"; and {len(groups) - 3} more groups" if len(groups) > 3 else ""
    outcomes = f", {mixed} of them with different outcomes" if mixed else ""
    return (f"{extra + len(groups)} rows repeat another row's values exactly ({len(groups)} group"
            f"{'s' if len(groups) != 1 else ''}{outcomes}: {shown}{more}); kept as observations, and each group "
            f"stays on one side of the train/validation split")


def overlap_problem(train: list[Item], val: list[Item], split_column: str) -> list[str]:
    """Texts (case-insensitive, whitespace collapsed) present on both sides of a file-given split."""
    from engine.data.split import text_key

    tr: dict[str, int] = {}
    for it in train:
        tr.setdefault(text_key(it.text), it.line)
    both = [(tr[text_key(it.text)], it.line, it.text) for it in val if text_key(it.text) in tr]
    if not both:
        return []
    shown = "; ".join(f"{quoted(t)} (train row {a}, validation row {b})" for a, b, t in both[:MAX_SHOWN])
    more = f"; and {len(both) - MAX_SHOWN} more" if len(both) > MAX_SHOWN else ""
    col = quoted(split_column, None)
    return [f"{len(both)} text{'s are' if len(both) != 1 else ' is'} in both train and validation (column "
            f"{col}): {shown}{more}; keep each text on one side only, or leave out the {col} column to let the "
            f"split be made for you"]


def column_name_problems(columns: list[str]) -> list[str]:
    """Column names are stored, listed and charted as they are, and redaction cannot rewrite them: one that holds
    personal data refuses the file, whatever the redact setting."""
    bad = [(i, m) for i, c in enumerate(columns, start=1) for m in find_pii(c)]
    if not bad:
        return []
    cols = sorted({i for i, _ in bad})
    shown = ", ".join(f"column {i} ({m.kind} {mask(m.value)})" for i, m in bad[:MAX_SHOWN])
    more = f" and {len(bad) - MAX_SHOWN} more" if len(bad) > MAX_SHOWN else ""
    return [f"{len(cols)} column name{'s hold' if len(cols) != 1 else ' holds'} personal data: {shown}{more}; "
            f"column names are stored and shown as they are, so rename {'those columns' if len(cols) != 1 else 'it'}"
            f" in the header (e.g. customer_email instead of an address)"]


def label_pii_problems(rows: list[Row], label_column: str | None) -> list[str]:
    """Labels are class names that answers, charts and the model card show to everyone; replacing them with
    tokens would merge classes. So personal data in the label column refuses the file, whatever the redact
    setting, naming the rows (values masked)."""
    if not label_column:
        return []
    seen: dict[str, list] = {}
    hits = []
    for r in rows:
        v = r.values.get(label_column, "")
        if v not in seen:
            seen[v] = find_pii(v) if v.strip() else []
        hits += [(r.line, m) for m in seen[v]]
    if not hits:
        return []
    kinds = Counter(m.kind for _, m in hits)
    what = ", ".join(f"{k} ×{n}" for k, n in kinds.items())
    shown = ", ".join(f"row {ln} ({mask(m.value)})" for ln, m in hits[:MAX_SHOWN])
    more = f" and {len(hits) - MAX_SHOWN} more" if len(hits) > MAX_SHOWN else ""
    return [f"the label column {quoted(label_column, None)} holds personal data ({what}: {shown}{more}); labels "
            f"are class names shown to everyone (answers, charts, the model card) and cannot be redacted: rename "
            f"those labels to the intent or outcome they stand for"]
