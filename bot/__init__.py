"""ftbot's edges: the `ftbot` CLI, the Slack app, and the operations both share (bot.service)."""
