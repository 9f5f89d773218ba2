"""Evaluation pieces: metrics, cost-based decisions, baselines, plots, forgetting. `engine.evaluate` assembles them."""
