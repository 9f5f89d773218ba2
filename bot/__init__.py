"""ftbot's edges: the `ftbot` CLI and the Slack app (listeners, Block Kit builders, notifier, settings). They call the
operations layer (ops/) and nothing below it."""
