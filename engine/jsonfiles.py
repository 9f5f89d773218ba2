"""JSON files of a run artifact (metrics.json, qa.json, selection.json, config/meta records): written atomically, so
a reader — the Q&A cache, the bot, a refit — never sees half a file."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def jsonable(o):
    """json.dumps `default` for the numpy scalars/arrays and paths that reports carry."""
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def write_json(path: Path, obj) -> None:
    """Write to a temp name beside `path`, then rename over it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=jsonable), encoding="utf-8")
    os.replace(tmp, path)
