"""One status message per run, edited at most every ~3 s; milestones and charts in its thread; the result in the
channel. Restart-safe: every post is reserve → post → record through ops/messages.py, keyed by purpose
(run:7:status, run:7:event:42, run:7:file:loss_curve, run:7:final, run:7:done), so a restarted bot finds what was
sent and posts nothing twice. Every call goes through bot/slack_calls.py: transient errors (429 Retry-After, 5xx,
dropped connections) are retried a bounded number of times; a permanent refusal of the run's channel
(`not_in_channel`, `is_archived`, …) is never retried — the run records why (runs.delivery_problem, shown by
`/ft status` and `ftbot status`) and its story continues in the requester's DM (runs.delivery_channel, keys
`run:7:dm:…`), so a restart does not knock on the closed door again. If the DM is refused too, the story is marked
done with the reason recorded: nothing is retried forever.

The notifier only reads the database and calls Slack; training runs elsewhere (the job worker).
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ops import slack_refusals
from ops import messages
from ops.paths import run_plot
from storage.errors import StorageError

from bot import blocks, slack_calls
from bot.slack_calls import Refused, Unavailable
from bot.settings import Settings

log = logging.getLogger("ftbot.notify")
TERMINAL = ("succeeded", "failed", "cancelled")
PLOTS = (("loss_curve", "Loss curve (L_new, L_pre, validation)"), ("confusion", "Confusion matrix (validation)"))


EDIT_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})


def notifier_client(settings: Settings, max_429_retries: int | None = None) -> WebClient:
    # retries are bot/slack_calls.py's, one bounded policy for every call after an ack (slack_sdk keeps its single retry
    # of a dropped connection except for chat.postMessage and files.completeUploadExternal: slack_calls.web_client)
    return slack_calls.web_client(settings.bot_token, settings.api_url, timeout=30)


class Notifier:
    def __init__(self, settings: Settings, client: WebClient | None = None, poll_s: float = 1.0):
        self.settings = settings
        self.home = settings.home
        self.client = client or notifier_client(settings)
        self.poll_s = poll_s
        self.min_edit_s = settings.update_interval_s
        self._last_edit: dict[int, float] = {}
        self._plans: dict[int, dict] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._known: dict[str, dict] = {}
        self._lock = threading.Lock()   # one sync at a time (loop thread vs. direct calls in tests)

    # ---- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> "Notifier":
        self._thread = threading.Thread(target=self._loop, name="ftbot-notifier", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def wake(self, run_id: int | None = None, plan: dict | None = None) -> None:
        if run_id is not None and plan:
            self._plans[int(run_id)] = plan
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync_once()
            except Exception as e:  # noqa: BLE001 — keep syncing; the next tick retries what failed
                log.error("notifier tick failed: %s", self.settings.redact(f"{type(e).__name__}: {e}"))
            self._wake.wait(self.poll_s)
            self._wake.clear()

    # ---- sync -----------------------------------------------------------------------------------------------
    def sync_once(self) -> None:
        with self._lock:
            ids = messages.runs_to_sync(self.home)
            for rid in ids:
                try:
                    self.sync_run(rid)
                except Refused as e:
                    self._refused(rid, e)
                except (Unavailable, SlackApiError, StorageError, OSError) as e:
                    log.warning("run #%s: Slack sync will retry: %s", rid, self.settings.redact(str(e)))

    def sync_run(self, run_id: int) -> None:
        story = messages.story(self.home, run_id)
        run, evs = story.run, story.events
        self._known = story.sent   # what was already sent for this run: skip those keys without the write lock
        channel = run.get("delivery_channel") or (run.get("origin") or {}).get("channel")
        if not channel:
            return
        # After a permanent refusal the story starts afresh in the DM under its own keys (run:7:dm:…).
        k = f"run:{run_id}:dm:" if run.get("delivery_channel") else f"run:{run_id}:"
        done = run["status"] in TERMINAL
        latest_eval = next((e for e in reversed(evs) if e["kind"] == "eval"), None)
        root = self._status(run, channel, latest_eval, force=done, key=k + "status")
        if root:
            if run.get("started_at"):
                worker = f" on `{run['worker']}`" if run.get("worker") else ""
                self._post(k + "started", channel, run_id, root,
                           f":arrow_forward: started{worker}", None)
            for e in evs:
                self._post(f"{k}event:{e['id']}", channel, run_id, root, blocks.milestone_text(e), None)
        if not done:
            return
        if root and run["status"] == "succeeded" and run.get("artifact_path"):
            for name, title in PLOTS:
                self._upload(f"{k}file:{name}", channel, run_id, root,
                             run_plot(run["artifact_path"], name), title)
        text, blks = blocks.final_message(run, story.previous)
        self._post(k + "final", channel, run_id, None, text, blks, short=f"run #{run_id} {run['status']}: "
                   f"`/ft status {run_id}` has the details")
        self._post(f"run:{run_id}:done", channel, run_id, None, None, None, marker=True)
        self._last_edit.pop(run_id, None)
        self._plans.pop(run_id, None)

    # ---- pieces ---------------------------------------------------------------------------------------------
    def _status(self, run: dict, channel: str, latest_eval: dict | None, force: bool, key: str) -> str | None:
        """Post or edit the run's status message; returns its ts (the thread root)."""
        rid = run["id"]
        text, blks = blocks.status_message(run, latest_eval)
        plan = self._plans.get(rid)
        if plan and run["status"] == "queued":
            blks = blks[:1] + [blocks.section(blocks.plan_text(run, plan))] + blks[1:]
        digest = _hash(text, blks)
        row = messages.get(self.home, key)
        if row is None:
            ts = self._post(key, channel, rid, None, text, blks, digest=digest)
            self._last_edit[rid] = time.monotonic()
            return ts
        if not row["ts"]:
            return None   # a post is in flight elsewhere or was interrupted by a crash: never post it twice
        if row["content_hash"] != digest:
            last = self._last_edit.get(rid, 0.0)
            if force or time.monotonic() - last >= self.min_edit_s:
                try:
                    slack_calls.call(self.client, "chat.update", channel=row["channel"], ts=row["ts"], text=text,
                                  blocks=blks)
                except Refused as e:
                    if e.error not in EDIT_ERRORS and not e.message_level:
                        raise
                    # this message cannot be edited (deleted, too old, too long): stop trying; the thread and the
                    # final result still come
                    log.warning("run #%s: status message not edited: %s", rid, e.error)
                self._last_edit[rid] = time.monotonic()
                messages.record(self.home, key, row["ts"], digest)
        return row["ts"]

    def _post(self, key: str, channel: str, run_id: int, thread_ts: str | None, text: str | None,
              blks: list | None, *, digest: str | None = None, marker: bool = False,
              short: str | None = None) -> str | None:
        if key in self._known:
            return self._known[key]["ts"]
        if not messages.reserve(self.home, key, channel, run_id=run_id, thread_ts=thread_ts):
            row = messages.get(self.home, key)
            return row["ts"] if row else None
        try:
            if marker:
                ts = "-"
            else:
                try:
                    resp = slack_calls.call(self.client, "chat.postMessage", channel=channel, thread_ts=thread_ts,
                                         text=text, blocks=blks, unfurl_links=False)
                except Refused as e:
                    if not e.message_level:
                        raise
                    resp = self._post_plainer(run_id, key, channel, thread_ts, text, blks, short, e)
                ts = resp["ts"]
        except BaseException:
            messages.release(self.home, key)
            raise
        messages.record(self.home, key, ts, digest)
        return ts

    def _post_plainer(self, run_id: int, key: str, channel: str, thread_ts: str | None, text: str | None,
                      blks: list | None, short: str | None, refusal: Refused) -> dict:
        """Slack rejects this message, not the channel: its words without blocks (the final result keeps its
        figures), else a few plain words — once, recorded with the path that reached the channel."""
        def post(path: str, words: str) -> dict:
            log.warning("run #%s: %s refused (%s); posting it as %s text", run_id, key, refusal.error, path)
            resp = slack_calls.call(self.client, "chat.postMessage", channel=channel, thread_ts=thread_ts, text=words)
            slack_refusals.record(self.home, kind="run", ref=run_id, channel=channel, user=None,
                                method="chat.postMessage", error=refusal.error, path=path)
            return resp

        if blks:
            try:
                return post("plain", blocks.plain(text, blks))
            except Refused as e:
                if not e.message_level:
                    raise
        return post("short", short or "(this update could not be shown in Slack)")

    def _upload(self, key: str, channel: str, run_id: int, thread_ts: str, path: Path, title: str) -> None:
        if key in self._known or not path.is_file():
            return
        if not messages.reserve(self.home, key, channel, run_id=run_id, thread_ts=thread_ts):
            return
        try:
            resp = slack_calls.call(self.client, "files_upload_v2", channel=channel, thread_ts=thread_ts, file=str(path),
                                 filename=path.name, title=title)
            file_id = (resp.get("file") or {}).get("id") or "uploaded"
        except Refused as e:
            if not e.message_level:
                messages.release(self.home, key)
                raise
            file_id = "-"      # this file is refused (too large, say): the rest of the story goes on
            slack_refusals.record(self.home, kind="run", ref=run_id, channel=channel, user=None,
                                method="files.upload", error=e.error, path="none")
        except BaseException:
            messages.release(self.home, key)
            raise
        messages.record(self.home, key, file_id)

    # ---- permanent refusals ---------------------------------------------------------------------------------
    def _refused(self, run_id: int, e: Refused) -> None:
        """The run's channel (or DM) refused for good: record why, move the story to the requester's DM, or — if
        that is refused as well — end the story with the reason recorded. Never retried on the next tick."""
        run = messages.story(self.home, run_id).run
        origin = run.get("origin") or {}
        user = origin.get("user") or run.get("requester")
        if run.get("delivery_channel"):      # the DM refused too
            problem = f"{run.get('delivery_problem') or ''}; the DM to <@{user}> failed too: {e.error}".lstrip("; ")
            slack_refusals.run_refused(self.home, run_id, problem, None)
            slack_refusals.record(self.home, kind="run", ref=run_id, channel=run["delivery_channel"], user=user,
                                method=e.method, error=e.error, path="none")
            self._done(run_id, run["delivery_channel"])
            log.warning("run #%s: %s", run_id, problem)
            return
        channel = origin.get("channel")
        problem = slack_calls.problem_text(channel, e.error)
        dm = None
        if slack_calls.is_user(user) and e.error not in slack_calls.WORKSPACE_ERRORS:
            try:
                dm = slack_calls.dm_channel(self.client, user)
            except Refused as e2:
                problem += f"; no DM to <@{user}> either: {e2.error}"
        log.warning("run #%s: %s%s", run_id, problem, f" — continuing in a DM to {user}" if dm else "")
        slack_refusals.run_refused(self.home, run_id, problem, dm)
        slack_refusals.record(self.home, kind="run", ref=run_id, channel=channel, user=user, method=e.method,
                            error=e.error, path="dm" if dm else "none")
        if dm is None:
            self._done(run_id, channel or "-")
            return
        try:
            self._post(f"run:{run_id}:dm:notice", dm, run_id, None,
                       f":warning: I {problem}. Updates on run #{run_id} come here instead.", None)
            self.sync_run(run_id)
        except Refused as e2:
            self._refused(run_id, e2)      # the DM refused: this ends the story (the branch above)

    def _done(self, run_id: int, channel: str) -> None:
        key = f"run:{run_id}:done"
        if messages.reserve(self.home, key, channel, run_id=run_id):
            messages.record(self.home, key, "-")


def _hash(text: str, blks) -> str:
    return hashlib.sha256(json.dumps([text, blks], sort_keys=True, default=str).encode()).hexdigest()[:16]
