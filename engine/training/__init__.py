"""The pieces the training loop (engine/train.py) calls, one purpose each: setup before the first step, validation
and early stopping, checkpoints, the candidate it writes for evaluation, and the time estimate."""
