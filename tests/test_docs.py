"""The documents a user reads first stay true to the code: every training key is listed once, in one group, in
docs/training-keys.md; the README keeps to a front door; the architecture map names files that exist."""
from __future__ import annotations

import re
from pathlib import Path

from engine.config import CORE_KEYS, KEY_GROUPS, TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def test_every_training_key_is_in_one_group_and_documented():
    grouped = [k for keys in KEY_GROUPS.values() for k in keys]
    assert sorted(grouped) == sorted(TrainConfig.keys()), "a key is missing from KEY_GROUPS or listed twice"
    doc = (ROOT / "docs" / "training-keys.md").read_text(encoding="utf-8")
    missing = [k for k in TrainConfig.keys() if f"| `{k}` |" not in doc]
    assert not missing, f"docs/training-keys.md lacks {missing}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(f"`{k}`" in readme for k in CORE_KEYS)


def test_readme_is_a_front_door_and_the_map_points_at_real_files():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 160
    arch = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert len(arch.splitlines()) <= 130
    named = set(re.findall(r"`((?:bot|ops|jobs|engine|storage|tests|bench|deploy)/[\w/.]+\.(?:py|md|yml))`", arch))
    assert named and not [p for p in named if not (ROOT / p).exists()]
