"""Seeded, stratified train/validation split that never puts the same text on both sides.

Rows are first grouped by their text compared case-insensitively after collapsing whitespace; a group moves as a
whole, so "Card lost" and "card  lost" always land in the same split. For tables the text is the serialized row,
so identical feature rows (kept as observations, even with different outcomes) form one group and never sit on
both sides: a group-aware stratified split (the group is stratified by its first row's label). Groups are split with scikit-learn's
`train_test_split(..., stratify=labels)`.

Small classes: a class with a single group cannot be stratified, so it goes to train whole (it must be learnable).
The rest is split stratified; if the validation share is too small to hold one group per class, sklearn is asked
for exactly one group per class instead. Finally any class left with no training group gets one moved back from
validation, so every class has at least one training example.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict


def text_key(text: str) -> str:
    return " ".join(text.split()).casefold()


def split_indices(texts: list[str], labels: list[str], *, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of train and validation rows (each sorted in file order)."""
    from sklearn.model_selection import train_test_split

    groups: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(texts):
        groups[text_key(t)].append(i)
    keys = list(groups)
    glabel = {k: labels[groups[k][0]] for k in keys}
    per_class = Counter(glabel.values())

    fixed_train = [k for k in keys if per_class[glabel[k]] < 2]
    pool = [k for k in keys if per_class[glabel[k]] >= 2]
    train_keys, val_keys = list(fixed_train), []
    if pool:
        strat = [glabel[k] for k in pool]
        n_classes = len(set(strat))
        n_val = math.ceil(len(pool) * fraction)  # as sklearn counts it
        # sklearn needs at least one group per class on each side; every pooled class has >= 2 groups, so
        # asking for exactly n_classes validation groups is always possible.
        test_size: float | int = fraction
        if n_val < n_classes or len(pool) - n_val < n_classes:
            test_size = n_classes
        tr, va = train_test_split(pool, test_size=test_size, stratify=strat, random_state=seed, shuffle=True)
        train_keys += list(tr)
        val_keys += list(va)

    # Every class keeps at least one training group.
    have = Counter(glabel[k] for k in train_keys)
    for k in sorted(val_keys, key=lambda k: groups[k][0]):
        if have[glabel[k]] == 0:
            val_keys.remove(k)
            train_keys.append(k)
            have[glabel[k]] += 1

    train = sorted(i for k in train_keys for i in groups[k])
    val = sorted(i for k in val_keys for i in groups[k])
    return train, val
