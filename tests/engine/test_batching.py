"""Tokenize once, pad per batch, group by length: deterministic and less padding than padding to the longest text."""
from __future__ import annotations

import pytest

from engine.batching import Batches
from tests.engine.train_helpers import examples


@pytest.fixture(scope="module")
def tok(tiny_bert):
    from engine.base_models import load_tokenizer
    return load_tokenizer(str(tiny_bert))


def _batches(tok, n=400, max_length=64):
    ex = examples(n)
    # spread lengths widely, as real intent data does
    texts = [(e.text + " ") * (1 + i % 5) for i, e in enumerate(ex)]
    return Batches(tok, texts, [i % 3 for i in range(n)], max_length)


def test_every_example_once_and_deterministic(tok):
    b = _batches(tok)
    for group in (True, False):
        order = b.order(16, seed=7, epoch=0, group_by_length=group)
        flat = sorted(i for batch in order for i in batch)
        assert flat == list(range(len(b)))
        assert order == b.order(16, seed=7, epoch=0, group_by_length=group)
        assert order != b.order(16, seed=7, epoch=1, group_by_length=group)
        assert order != b.order(16, seed=8, epoch=0, group_by_length=group)


def test_dynamic_padding_and_truncation(tok):
    b = _batches(tok, max_length=20)
    assert max(b.lengths) == 20                       # truncated to max_length
    idx = [0, 1, 2, 3]
    batch = b.collate(idx)
    width = max(len(b.ids[i]) for i in idx)
    assert batch["input_ids"].shape == (4, width)     # padded to the longest in the batch only
    assert batch["attention_mask"].sum().item() == sum(len(b.ids[i]) for i in idx)
    assert batch["index"].tolist() == idx
    assert batch["labels"].tolist() == [b.labels[i] for i in idx]
    short = min(idx, key=lambda i: len(b.ids[i]))
    row = idx.index(short)
    assert (batch["input_ids"][row, len(b.ids[short]):] == b.pad_id).all()


def test_grouping_pads_less(tok):
    b = _batches(tok)
    grouped = b.padded_tokens(b.order(16, 0, 0, group_by_length=True))
    random_ = b.padded_tokens(b.order(16, 0, 0, group_by_length=False))
    pad_to_longest = len(b) * int(max(b.lengths))     # the reference: every text padded to the set's longest
    real = int(b.lengths.sum())
    assert real <= grouped < random_ < pad_to_longest
    assert grouped < 1.15 * real                      # grouping leaves little padding


def test_eval_order_covers_all(tok):
    b = _batches(tok, n=50)
    order = b.eval_order(8)
    assert sorted(i for x in order for i in x) == list(range(50))
