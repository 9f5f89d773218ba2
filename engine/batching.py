"""Tokenize once, then batch with dynamic padding and length grouping.

Padding each batch only to its own longest text (and putting texts of similar length together) is the main speed
lever: a reference that pads every text to the longest in the whole set spends most of its compute on padding.
Batch order is a pure function of (seed, epoch), so a resumed run sees the same batches as an uninterrupted one.
"""
from __future__ import annotations

import numpy as np
import torch

MEGA_BATCHES = 50   # length sorting happens inside shuffled chunks of this many batches: grouped yet still random


class Batches:
    """Token ids of one split, tokenized once (truncated to max_length, no padding)."""

    def __init__(self, tokenizer, texts: list[str], labels: list[int], max_length: int, features=None,
                 feature_texts: list[str] | None = None):
        enc = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)
        # tabular column features (engine/features.py), computed once like the token ids, from the full serialized
        # rows (`feature_texts`) when the encoder reads a shorter text of them
        self.features = None if features is None else torch.as_tensor(
            features.transform(list(texts if feature_texts is None else feature_texts)))
        self.ids: list[list[int]] = enc["input_ids"]
        self.labels = list(labels)
        self.lengths = np.array([len(x) for x in self.ids], dtype=np.int64)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def __len__(self) -> int:
        return len(self.ids)

    def order(self, batch_size: int, seed: int, epoch: int, group_by_length: bool = True) -> list[list[int]]:
        """Training batches (lists of example indices) for one epoch; deterministic in (seed, epoch)."""
        rng = np.random.default_rng([seed, epoch])
        perm = rng.permutation(len(self.ids))
        if not group_by_length:
            return [perm[i:i + batch_size].tolist() for i in range(0, len(perm), batch_size)]
        batches, mega = [], batch_size * MEGA_BATCHES
        for start in range(0, len(perm), mega):
            chunk = perm[start:start + mega]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches += [chunk[i:i + batch_size].tolist() for i in range(0, len(chunk), batch_size)]
        rng.shuffle(batches)   # the longest batch first would only be a fixed pattern, not a speed-up
        return batches

    def eval_order(self, batch_size: int) -> list[list[int]]:
        """Evaluation batches: sorted by length (least padding), order irrelevant."""
        idx = np.argsort(-self.lengths, kind="stable")
        return [idx[i:i + batch_size].tolist() for i in range(0, len(idx), batch_size)]

    def collate(self, indices: list[int], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        """Pad to the longest text of this batch. Carries example indices (for per-example caches)."""
        width = int(max(self.lengths[indices]))
        ids = torch.full((len(indices), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(indices), width), dtype=torch.long)
        for row, i in enumerate(indices):
            seq = self.ids[i]
            ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, :len(seq)] = 1
        out = {"input_ids": ids.to(device), "attention_mask": mask.to(device),
               "labels": torch.tensor([self.labels[i] for i in indices], dtype=torch.long, device=device),
               "index": torch.tensor(indices, dtype=torch.long, device=device)}
        if self.features is not None:
            out["features"] = self.features[indices].to(device)
        return out

    def padded_tokens(self, batches: list[list[int]]) -> int:
        """Tokens the model processes (real + padding) for these batches."""
        return int(sum(len(b) * int(max(self.lengths[b])) for b in batches))
