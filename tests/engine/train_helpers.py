"""Tiny intent data and config helpers shared by the engine training tests."""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from engine.config import TrainConfig
from engine.data.types import Example, PreparedDataset

WORDS = {"card": "my card was lost stolen blocked frozen declined",
         "fx": "exchange currency euro dollar rate convert abroad",
         "loan": "loan mortgage interest repay instalment borrow"}


def examples(n: int, seed: int = 0) -> list[Example]:
    r = random.Random(seed)
    out = []
    for i in range(n):
        label = sorted(WORDS)[i % 3]
        words = WORDS[label].split()
        out.append(Example(" ".join(r.choice(words) for _ in range(r.randint(2, 14))), label))
    return out


def dataset(n_train: int = 36, n_val: int = 12) -> PreparedDataset:
    return PreparedDataset("csv", "text", "text", "label", [], examples(n_train, 0), examples(n_val, 1),
                           sorted(WORDS), {k: 0 for k in WORDS}, sha256="f" * 64)


def config(base, **kw) -> TrainConfig:
    opts = {"base": str(base), "epochs": 1, "batch_size": 8, "max_length": 32, "threads": 1}
    opts.update(kw)
    return TrainConfig.from_options(opts)


def no_dropout_copy(src: Path, dest: Path) -> Path:
    """The same tiny checkpoint with dropout off, so a hand-computed forward equals the training forward."""
    shutil.copytree(src, dest, dirs_exist_ok=True)
    cfg = json.loads((dest / "config.json").read_text())
    cfg.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (dest / "config.json").write_text(json.dumps(cfg))
    return dest
