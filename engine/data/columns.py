"""Decide which column is the text, which the label, and whether the data is tabular.

Rules, in order:
1. An explicit `label_column` / `text_column` must exist (matched exactly, then case-insensitively).
2. Otherwise a column is a label candidate by name (LABEL_NAMES) and a text candidate by name (TEXT_NAMES);
   two candidates for the same role are ambiguous and reported with the argument that settles it.
3. `answer` and `split` columns are never features: they feed the answer table and a given train/validation split.
4. No text column but two or more other columns → tabular: every remaining column, in file order, is serialized.
   Exactly one other column → it is the text (with a warning saying so).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.data.pii import for_message

TEXT_NAMES = ("text", "query", "question", "utterance", "sentence", "message", "description")
LABEL_NAMES = ("label", "intent", "category", "class", "target", "risk", "y")
ANSWER_NAMES = ("answer", "answers")
SPLIT_NAMES = ("split",)


@dataclass
class Columns:
    kind: str = "text"                     # text | tabular
    text: str | None = None
    label: str | None = None
    features: list[str] = field(default_factory=list)
    answer: str | None = None
    split: str | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def find_column(columns: list[str], name: str) -> str | None:
    """Exact match first, then case- and space-insensitive."""
    if name in columns:
        return name
    low = name.strip().lower()
    hits = [c for c in columns if c.strip().lower() == low]
    return hits[0] if len(hits) == 1 else None


def _by_names(columns: list[str], names: tuple[str, ...]) -> list[str]:
    return [c for c in columns if c.strip().lower() in names]


def _name(column: str) -> str:
    """A column name as a message shows it: a name holding personal data shows its token (see
    checks.column_name_problems, which refuses such a file)."""
    return for_message(column, None)


def _q(column: str) -> str:
    return repr(_name(column))


def _available(columns: list[str]) -> str:
    return ", ".join(_name(c) for c in columns) if columns else "(none)"


def resolve_columns(columns: list[str], text_column: str | None = None, label_column: str | None = None,
                    *, allow_tabular: bool = True) -> Columns:
    out = Columns()
    out.answer = next(iter(_by_names(columns, ANSWER_NAMES)), None)
    out.split = next(iter(_by_names(columns, SPLIT_NAMES)), None)
    reserved = {out.answer, out.split} - {None}

    # Label.
    if label_column is not None:
        out.label = find_column(columns, label_column)
        if out.label is None:
            out.problems.append(f"label column {_q(label_column)} does not exist; the columns are: "
                                f"{_available(columns)}")
    else:
        cands = [c for c in _by_names(columns, LABEL_NAMES) if c != text_column]
        if len(cands) == 1:
            out.label = cands[0]
        elif len(cands) > 1:
            out.problems.append(f"several columns could be the label ({', '.join(_name(c) for c in cands)}); say "
                                f"which one with label_column=... (in Slack: label=...), e.g. label={_name(cands[0])}")

    # Text.
    if text_column is not None:
        out.text = find_column(columns, text_column)
        if out.text is None:
            out.problems.append(f"text column {_q(text_column)} does not exist; the columns are: {_available(columns)}")
        elif out.text == out.label:
            out.problems.append(f"column {_q(out.text)} cannot be both the text and the label; "
                                f"pass a different text_column or label_column")
    else:
        cands = [c for c in _by_names(columns, TEXT_NAMES) if c != out.label]
        if len(cands) == 1:
            out.text = cands[0]
        elif len(cands) > 1:
            out.problems.append(f"several columns could be the text ({', '.join(_name(c) for c in cands)}); say "
                                f"which one with text_column=... (in Slack: text=...), e.g. text={_name(cands[0])}")
            return out

    rest = [c for c in columns if c not in reserved and c not in (out.label, out.text)]
    if out.label is None and label_column is None and not any("several columns" in p for p in out.problems):
        if out.text is not None and len(rest) == 1:
            out.label = rest[0]
            out.warnings.append(f"no column has a usual label name; using {_q(out.label)} as the label "
                                f"(pass label_column=... to choose another)")
            rest = []
        else:
            out.problems.append(f"no label column found (looked for {', '.join(LABEL_NAMES)}); the columns are: "
                                f"{_available(columns)}; name it with label_column=... (in Slack: label=...)")
    if out.problems or out.text is not None:
        return out

    if len(rest) >= 2 and allow_tabular:
        out.kind = "tabular"
        out.features = rest
    elif len(rest) == 1:
        out.text = rest[0]
        out.warnings.append(f"no column has a usual text name; using {_q(out.text)} as the text "
                            f"(pass text_column=... to choose another)")
    else:
        out.problems.append(f"no text column found (looked for {', '.join(TEXT_NAMES)}); the columns are: "
                            f"{_available(columns)}; name it with text_column=... (in Slack: text=...)")
    return out
