"""Fine-tuning engine: data → batches → model (LoRA/full/freeze) → mixed-loss training → evaluation → Q&A.

Never imports slack_* or storage: callers hand it plain data and callbacks.
"""
