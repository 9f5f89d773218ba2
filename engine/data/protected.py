"""Protected attributes: the columns a fairness report splits applicants by.

A spec is a comma-separated list. `COLUMN` groups rows by the column's values (a categorical attribute such as
`personal_status_sex`); `COLUMN<NUMBER` (also `<=`, `>`, `>=`, or `≤`, `≥`) splits a numeric column in two at the
cut: the rows the comparison names (e.g. "age<25") and the rest ("age≥25"). Blank or unreadable cells form their
own group, "missing", so no row silently drops out of the report.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from engine.data.values import is_missing, number
from engine.errors import ConfigError, DatasetError

MISSING_GROUP = "missing"
MAX_VALUE_GROUPS = 20        # a grouping by value with more groups than this is almost surely a numeric column
                             # that needs a cut (ages, amounts): every group would be too small to judge

# Each operator and the one that names the complementary group.
_COMPLEMENT = {"<": "≥", "≤": ">", ">": "≤", "≥": "<"}
_SPELLINGS = {"<": "<", "<=": "≤", "≤": "≤", ">": ">", ">=": "≥", "≥": "≥"}
_CUT = re.compile(r"^(?P<column>.+?)\s*(?P<op><=|>=|≤|≥|<|>)\s*(?P<number>\S+)$")
_SYNTAX = ("COLUMN (grouped by value) or COLUMN<NUMBER (also <=, >, >=), comma-separated, "
           "e.g. \"age<25,personal_status_sex\"")


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class Protected:
    """One protected attribute. `cut` None: group by value; else split the numeric `column` at `cut` with `op`."""

    name: str                   # as shown in reports: "age<25", "personal_status_sex"
    column: str
    cut: float | None = None
    op: str = "<"               # one of < ≤ > ≥; the rows it selects are the group called `name`

    @property
    def other(self) -> str | None:
        """The complementary group of a cut ("age≥25" for "age<25"); None for a grouping by value."""
        return None if self.cut is None else f"{self.column}{_COMPLEMENT[self.op]}{_fmt(self.cut)}"

    def _inside(self, x: float) -> bool:
        c = self.cut
        return {"<": x < c, "≤": x <= c, ">": x > c, "≥": x >= c}[self.op]

    def group(self, value) -> str:
        """The group of one cell."""
        if self.cut is None:
            return MISSING_GROUP if is_missing(value) else str(value).strip()
        x = number(value)
        if x is None:
            return MISSING_GROUP
        return self.name if self._inside(x) else self.other

    def groups(self, rows: Sequence[dict]) -> list[str]:
        """The group of each row, in order (rows are {column: value} dicts; an absent column reads as missing)."""
        return [self.group(r.get(self.column)) for r in rows]

    def to_dict(self) -> dict:
        return {"name": self.name, "column": self.column, "cut": self.cut, "op": self.op}

    @classmethod
    def from_dict(cls, d: dict) -> "Protected":
        cut = d.get("cut")
        return cls(name=d["name"], column=d["column"], cut=None if cut is None else float(cut), op=d.get("op", "<"))


def _parse_one(item: str) -> Protected:
    m = _CUT.match(item)
    if not m:
        if any(op in item for op in _SPELLINGS):
            raise ConfigError("protected", item, f"expected {_SYNTAX}")
        return Protected(name=item, column=item)
    column, op = m["column"].strip(), _SPELLINGS[m["op"]]
    x = number(m["number"])
    if not column or x is None:
        raise ConfigError("protected", item, f"a cut needs a column and a number; expected {_SYNTAX}")
    return Protected(name=f"{column}{op}{_fmt(x)}", column=column, cut=x, op=op)


def parse_protected(spec: str | None) -> list[Protected]:
    """The attributes named by `spec` ("age<25,personal_status_sex"), in order; "" or None → []. Only the syntax
    is checked here; `check` compares them with the dataset's columns."""
    if spec is None:
        return []
    return [_parse_one(item.strip()) for item in str(spec).split(",") if item.strip()]


def check(protected: Sequence[Protected], columns: Sequence[str], numeric_columns: Sequence[str],
          rows: Sequence[dict] | None = None) -> None:
    """Raise one DatasetError listing every problem: unknown columns, cuts on non-numeric columns, repeated
    attributes, and (when `rows` are given) a grouping by value with more than MAX_VALUE_GROUPS groups."""
    known, numeric = list(columns), set(numeric_columns)
    problems, seen = [], set()
    for p in protected:
        if p.name in seen:
            problems.append(f"protected attribute \"{p.name}\" is listed twice; name each attribute once")
            continue
        seen.add(p.name)
        if p.column not in known:
            problems.append(f"protected column \"{p.column}\" is not in the file; its columns are: {', '.join(known)}")
        elif p.cut is not None and p.column not in numeric:
            problems.append(f"protected attribute \"{p.name}\" cuts column \"{p.column}\" at a number, but that "
                            f"column is not numeric; name it without a cut (\"{p.column}\") to group rows by "
                            "its values")
        elif p.cut is None and rows is not None:
            n = len({p.group(r.get(p.column)) for r in rows})
            if n > MAX_VALUE_GROUPS:
                hint = (f"give a cut, e.g. \"{p.column}<25\"" if p.column in numeric
                        else "group its values into fewer categories first")
                problems.append(f"protected column \"{p.column}\" has {n} distinct values, too many groups to judge "
                                f"(at most {MAX_VALUE_GROUPS}); {hint}")
    if problems:
        raise DatasetError(problems)


def as_inputs(data):
    """The dataset with its protected columns back among the model's inputs (the training key use_protected=yes):
    texts serialized again with them, as the other columns."""
    import dataclasses

    from engine.data.serialize import serialize_row
    from engine.data.types import Example
    if not data.protected or data.raw_train is None:
        return data
    extra = [c for c in dict.fromkeys(p["column"] for p in data.protected) if c not in data.feature_columns]
    cols = list(data.feature_columns) + extra

    def merged(raw, prot):
        return [{**r, **(p or {})} for r, p in zip(raw or [], prot or [{}] * len(raw or []))]

    raw_train, raw_val = merged(data.raw_train, data.protected_train), merged(data.raw_validation,
                                                                              data.protected_validation)
    return dataclasses.replace(
        data, feature_columns=cols, raw_train=raw_train, raw_validation=raw_val,
        train=[Example(serialize_row(r, cols), e.label) for r, e in zip(raw_train, data.train)],
        validation=[Example(serialize_row(r, cols), e.label) for r, e in zip(raw_val, data.validation)])
