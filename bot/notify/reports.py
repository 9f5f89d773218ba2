"""Posts the challenger reports the scheduler queued (daily, while a challenger runs; ops/challengers.py).

The job runner cannot talk to Slack (it never imports bot), so a fire stores its report in SQLite; this thread
claims unposted reports, posts each with its chart in the thread, and marks it posted. A claim that was never
marked (a crash mid-post) is taken again after five minutes, so a restart does not lose a report.
"""
from __future__ import annotations

import logging
import threading

from bot.settings import Settings

log = logging.getLogger("ftbot.notify")


class ReportPoster:
    def __init__(self, settings: Settings, deps, client=None, poll_s: float = 30.0):
        from bot.notify.notifier import notifier_client
        self.settings, self.deps, self.poll_s = settings, deps, poll_s
        self.client = client or notifier_client(settings)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "ReportPoster":
        self._thread = threading.Thread(target=self._loop, name="ftbot-reports", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.post_pending()
            except Exception as e:  # noqa: BLE001 — keep polling; the next round retries
                log.error("challenger reports: %s", self.settings.redact(str(e)))
            self._stop.wait(self.poll_s)

    def post_pending(self) -> int:
        from bot.replies import post_report
        ops, n = self.deps.ops, 0
        for row in ops.claim_challenger_reports():
            try:
                ts = post_report(self.deps, self.client, row["channel"], row["report"], daily=row["kind"] == "daily")
            except Exception:
                ops.release_challenger_report(row["id"])
                raise
            ops.mark_challenger_report_posted(row["id"], ts)
            n += 1
        return n
