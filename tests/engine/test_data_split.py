"""Split: stratified, seeded, no text on both sides, small classes still train."""
from __future__ import annotations

import csv
from collections import Counter

from engine.data import prepare_dataset
from engine.data.split import split_indices, text_key


def write(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return path


def rows_for(counts: dict[str, int]):
    return [[f"message {i} on the subject of {lab}", lab] for lab, n in counts.items() for i in range(n)]


def test_stratified_counts(tmp_path):
    d = prepare_dataset(write(tmp_path / "d.csv", rows_for({"a": 50, "b": 30, "c": 20})))
    assert d.split == {"train": 80, "validation": 20, "seed": 42, "fraction": 0.2}
    assert Counter(e.label for e in d.validation) == {"a": 10, "b": 6, "c": 4}
    assert d.label_counts == {"a": 50, "b": 30, "c": 20} and d.rows == 100


def test_deterministic_by_seed(tmp_path):
    p = write(tmp_path / "d.csv", rows_for({"a": 40, "b": 40}))
    one, two = prepare_dataset(p, seed=1), prepare_dataset(p, seed=1)
    other = prepare_dataset(p, seed=2)
    assert [e.text for e in one.validation] == [e.text for e in two.validation]
    assert [e.text for e in one.validation] != [e.text for e in other.validation]
    assert other.split["seed"] == 2


def test_fraction(tmp_path):
    d = prepare_dataset(write(tmp_path / "d.csv", rows_for({"a": 50, "b": 50})), val_fraction=0.3)
    assert d.split["validation"] == 30 and d.split["fraction"] == 0.3


def test_case_insensitive_equal_texts_stay_together():
    texts, labels = [], []
    for i in range(40):
        lab = "ab"[i % 2]
        texts += [f"Question {i}", f"question  {i}"]      # same text up to case and spaces
        labels += [lab, lab]
    for seed in range(5):
        tr, va = split_indices(texts, labels, fraction=0.25, seed=seed)
        assert not {text_key(texts[i]) for i in tr} & {text_key(texts[i]) for i in va}
        assert sorted(tr + va) == list(range(80))


def test_no_overlap_on_real_sized_file(tmp_path):
    rows = rows_for({"a": 30, "b": 30})
    rows += [[r[0].upper(), r[1]] for r in rows[:10]]          # case variants are not exact duplicates
    d = prepare_dataset(write(tmp_path / "d.csv", rows))
    assert not {text_key(e.text) for e in d.train} & {text_key(e.text) for e in d.validation}


def test_small_classes_still_split_with_one_in_train(tmp_path):
    # 2 and 3 rows: too small for a 20 % stratified share of their own; every class keeps a training example.
    d = prepare_dataset(write(tmp_path / "d.csv", rows_for({"big": 40, "two": 2, "three": 3, "x": 2, "y": 2})))
    assert set(e.label for e in d.train) == {"big", "two", "three", "x", "y"}
    assert d.split["train"] + d.split["validation"] == 49
    d = prepare_dataset(write(tmp_path / "e.csv", rows_for({"a": 2, "b": 2, "c": 2})), val_fraction=0.9)
    assert set(e.label for e in d.train) == {"a", "b", "c"} and d.split["validation"] >= 1


def test_single_group_class_goes_to_train():
    texts = ["same text", "SAME TEXT", "other one", "other two", "other three", "other four"]
    labels = ["solo", "solo", "b", "b", "b", "b"]
    tr, va = split_indices(texts, labels, fraction=0.5, seed=0)
    assert {0, 1} <= set(tr)
