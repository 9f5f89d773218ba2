"""Watching a model at work: whether the data it now sees still looks like the data it was trained on."""
