"""Schedule results in Slack: the hook the job runner's scheduler calls after a re-evaluation or a failed fire.

jobs/ never imports bot/: `ftbot serve` builds this callable and hands it to the embedded `jobs.worker.Worker`
(`notify=`), which passes it to the scheduler (`ops.schedules.fire(…, notify=…)`). Retrains need no hook: their run
carries the schedule's channel in its origin and the run notifier tells that story. Posting goes through
bot/slack_calls.py: transient errors are retried; a refusing channel falls back to a DM to the schedule's creator, and
what could not be delivered is recorded (delivery_failures, kind `schedule`).
"""
from __future__ import annotations

from typing import Callable

from slack_sdk import WebClient

from bot import blocks
from bot.slack_calls import Reply, web_client
from bot.settings import Settings


def schedule_notifier(settings: Settings, client: WebClient | None = None) -> Callable[[dict, dict], None]:
    client = client or web_client(settings.bot_token, settings.api_url, timeout=30)

    def notify(schedule: dict, result: dict) -> None:
        text = schedule_text(schedule, result)
        Reply(client, settings.home, user=schedule.get("created_by"), channel=schedule.get("channel"),
              kind="schedule", ref=schedule.get("id"), log_redact=settings.redact).post(text, [blocks.section(text)])
    return notify


def schedule_text(schedule: dict, result: dict) -> str:
    sid = blocks.esc(schedule.get("id"))
    if result.get("action") == "evaluated":
        r = result.get("report") or {}
        return (f":calendar: schedule `{sid}`: re-evaluated run #{result.get('run_id')} deployed in "
                f"`{blocks.esc(schedule.get('target'))}` on {blocks.esc(r.get('evaluated_on') or 'its validation split')}"
                f" — accuracy {blocks.pct(r.get('accuracy'))} · macro-F1 {blocks.pct(r.get('macro_f1'))}")
    if result.get("action") == "drift":
        from bot.render import drift_line
        where = blocks.esc(schedule.get("target"))
        line = blocks.esc(drift_line(result.get("drift") or {}))
        if result.get("crossed"):
            return (f":rotating_light: schedule `{sid}`: drift of run #{result.get('run_id')} in `{where}` — "
                    f"{', '.join(blocks.esc(c) for c in result['crossed'])} left the stable band. {line}")
        return f":white_check_mark: schedule `{sid}`: run #{result.get('run_id')} in `{where}` — nothing moved. {line}"
    return f":x: schedule `{sid}` ({schedule.get('kind')} `{blocks.esc(schedule.get('target'))}`) failed: " \
           f"{blocks.esc(result.get('error') or result.get('why') or result.get('action'))}"
