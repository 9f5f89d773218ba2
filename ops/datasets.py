"""Register, list and show datasets: the engine checks the data, storage records it, nothing is stored half-way."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from engine.errors import ConfigError, DatasetError
from storage import connect
from storage import datasets as table
from storage import questions
from storage import runs as runs_table
from storage.errors import Conflict

from ops import access
from ops.access import Actor
from ops.paths import dataset_dir

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise ConfigError("name", name, "1-64 letters, digits, '_', '-' or '.', starting with a letter or digit")
    return name


def register(home, name: str, path, *, actor: Actor | str, text_column: str | None = None,
             label_column: str | None = None, answers_path=None, redact: bool = False, dedupe: bool = False,
             val_fraction: float = 0.2, seed: int = 42, source: str | None = None, channel: str | None = None,
             protected: str | None = None) -> dict:
    """Validate, split and copy a data file into FTBOT_HOME, then record it. Returns the row plus the PII
    report and warnings. `protected` ("age<25,personal_status_sex") names protected attributes: kept for the
    fairness report, not model inputs. On any failure nothing is left behind (no folder, no row)."""
    from engine.data import prepare_dataset, save_dataset

    with access.acting(home, actor, "dataset.add", name) as note:
        check_name(name)
        if path is None or str(path) == "":
            raise DatasetError(["no file given; give the path of a CSV, TSV or JSONL file"])
        path = Path(path)
        if not path.is_file():
            raise DatasetError([f"file not found: {path}; give the path of a CSV, TSV or JSONL file"])
        with connect(home) as db:
            if table.exists(db, name):
                raise Conflict(f"a dataset named {name!r} already exists; pick another name")
        prepared = prepare_dataset(path, text_column=text_column, label_column=label_column,
                                   answers_path=answers_path, val_fraction=val_fraction, seed=seed, redact=redact,
                                   dedupe=dedupe, protected=protected)
        dest = dataset_dir(home, name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        sha = save_dataset(prepared, path, dest)
        try:
            with connect(home) as db:
                row = table.insert(db, {
                    "name": name, "source": source or str(path), "sha256": sha, "format": prepared.format,
                    "kind": prepared.kind, "text_column": prepared.text_column,
                    "label_column": prepared.label_column, "rows": prepared.rows, "labels": prepared.labels,
                    "label_counts": prepared.label_counts, "split": prepared.split, "pii": prepared.pii,
                    "redacted": int(prepared.redacted), "answers": len(prepared.answers), "path": str(dest),
                    "created_by": access.as_actor(actor).id,
                    # where it was registered: a non-admin there may see it (ops/visibility.py)
                    "channel": channel or access.as_actor(actor).channel,
                })
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)  # the row failed: do not leave an orphan copy
            raise
        note.update(rows=prepared.rows, sha256=sha)
    row["warnings"] = list(prepared.warnings)
    row["protected"] = [p["name"] for p in prepared.protected]
    return row


def list_all(home) -> list[dict]:
    with connect(home) as db:
        return table.list_all(db)


def get(home, name: str) -> dict:
    with connect(home) as db:
        return table.get(db, name)


def show(home, name: str) -> dict:
    with connect(home) as db:
        row = table.get(db, name)
        row["feedback"] = questions.feedback_counts(db, name)
        row["runs"] = runs_table.count_for_dataset(db, name)
    from engine.data.store import protected_names    # from the engine's record of the stored dataset
    row["protected"] = protected_names(row.get("path"))
    return row


def load(home, name: str):
    """The PreparedDataset of a registered dataset."""
    from engine.data import load_dataset

    with connect(home) as db:
        row = table.get(db, name)
    return load_dataset(Path(row["path"]))


def export_feedback(home, name: str, out_path, *, actor: Actor | str = "system:export") -> int:
    """Write feedback on answers as candidate `text,label,up,down` training rows: one row per question with its
    vote counts (👍 keeps the predicted intent, 👎 with a correction uses the correction; a question with neither
    has no label and is left out). Texts are redacted again (rows stored before redaction existed) and every cell
    is spreadsheet-safe (ops/privacy.py). An admin action, audited. Returns the row count."""
    from ops import privacy

    with access.acting(home, actor, "dataset.export", name) as note:
        with connect(home) as db:
            table.get(db, name)
            voted = questions.feedback_by_question(db, name)
        rows = []
        for q in voted:
            label = q["intent"] if q["up"] and q["up"] >= q["down"] else q["correction"]
            if label:
                text, _ = privacy.redact_question(q["text"], privacy.ALL_KINDS)
                rows.append({"text": text, "label": label, "up": q["up"], "down": q["down"]})
        n = privacy.write_csv(out_path, ["text", "label", "up", "down"], rows)
        note.update(rows=n)
    return n
