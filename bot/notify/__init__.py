"""Run → Slack sync: reads the runs table and run_events (written by the training process) and talks to Slack."""
from bot.notify.notifier import Notifier

__all__ = ["Notifier"]
