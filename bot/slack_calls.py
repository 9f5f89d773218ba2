"""Every Slack call made after an acknowledgement goes through here: one error policy, one set of fallback paths.

Slack refuses every day. We sort what it says into two kinds:

* **permanent** (`not_in_channel`, `channel_not_found`, `is_archived`, `missing_scope`, `msg_too_long`, …): the same
  call would fail again, so it is never retried. The caller hears `Refused` and takes another path to the
  requester (the command's `response_url` while it is valid, else a DM), and the reason is recorded
  (ops/slack_refusals.py) so `/ft status` and `ftbot status` can say it.
* **transient** (429 `ratelimited` with `Retry-After`, 5xx, timeouts, dropped connections): retried a bounded number
  of times with exponential backoff, waiting at least `Retry-After`. Past the cap the caller hears `Unavailable`.

This is the only place that sleeps on Slack; no acknowledgement goes through it (Bolt's `ack()` answers the HTTP
request itself). The notifier, answers, ephemeral replies, uploads, views.open/publish and response_url posts all do.
`STATS` counts retries per call so bench/slack_chaos.py can show that no call was retried past the cap.

**A message is posted once**, even when the connection drops after Slack applied the post (the answer is lost, the
message is there): a retried chat.postMessage would post it twice. Each post carries a delivery id in its message
metadata; after a failure that leaves it unknown whether Slack applied the call (no answer, or a 5xx), the next
attempt first looks for that id in the channel's (or thread's) latest messages (conversations.history/replies, the
history scopes the manifest already asks for) and takes the message it finds instead of posting again. When the
lookup itself fails (a scope missing, Slack down) it posts again: a duplicate is better than silence. A post
addressed to a user id goes to the DM's D… id (conversations.open), the only id whose history can be read.
Charts are shared the same way: files_upload_v2's steps are retried one by one, and files.completeUploadExternal
(which shares the file) only after files.info shows it is not shared yet. A form opens once too: views.open's
trigger_id is single-use, so a repeat after a lost answer is refused with `exchanged_trigger_id`, which then means
"opened" (`_open_once`). slack_sdk's own one-shot retry of a dropped connection is turned off for those three methods
(`web_client`), since it would repeat them without looking.
"""
from __future__ import annotations

import http.client
import json
import logging
import random
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

log = logging.getLogger("ftbot.delivery")

# The channel (or the message's place in it) refuses: another channel may work — the requester's DM.
CHANNEL_ERRORS = frozenset({
    "not_in_channel", "channel_not_found", "is_archived", "restricted_action", "restricted_action_read_only_channel",
    "restricted_action_thread_only_channel", "restricted_action_non_threadable_channel", "cannot_reply_to_message",
    "ekm_access_denied", "team_access_not_granted", "is_inactive", "user_not_in_channel", "not_allowed_token_type",
    "cant_update_message", "edit_window_closed", "message_not_found", "thread_not_found",
})
# This one message is wrong: the same text elsewhere fails the same way.
MESSAGE_ERRORS = frozenset({
    "msg_too_long", "msg_blocks_too_long", "invalid_blocks", "invalid_blocks_format", "invalid_attachments",
    "no_text", "too_many_attachments", "invalid_arguments", "invalid_metadata_format", "too_many_blocks",
})
# The app itself is locked out: nothing will work until an operator acts.
WORKSPACE_ERRORS = frozenset({
    "missing_scope", "token_revoked", "token_expired", "account_inactive", "invalid_auth", "not_authed",
    "no_permission", "org_login_required", "access_denied", "app_missing_action_url",
})
PERMANENT = CHANNEL_ERRORS | MESSAGE_ERRORS | WORKSPACE_ERRORS
TRANSIENT = frozenset({"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
                       "request_timeout", "timeout", "upstream_error"})

HINTS = {"not_in_channel": "invite @ftbot (`/invite @ftbot`)", "channel_not_found": "the channel is gone or private; "
         "invite @ftbot", "is_archived": "the channel is archived", "missing_scope": "the app lacks a scope; an "
         "operator must reinstall it from deploy/manifest.yml", "token_revoked": "the bot token was revoked",
         "invalid_auth": "the bot token is not valid", "account_inactive": "the app was uninstalled",
         "restricted_action": "posting there is restricted to admins"}


@dataclass(frozen=True)
class Policy:
    """Bounded retries for transient errors. `max_wait_s` caps one wait: a Retry-After longer than that is not
    waited out here (the call gives up as Unavailable and the caller's next tick or fallback takes over)."""

    max_retries: int = 4          # attempts = 1 + max_retries
    base_s: float = 0.5           # first backoff; doubles each retry, with jitter
    max_backoff_s: float = 8.0
    max_wait_s: float = 60.0
    deadline_s: float | None = None   # give up when the next attempt could not start before this many seconds


POLICY = Policy()


class DeliveryError(Exception):
    def __init__(self, method: str, error: str, *, retries: int = 0):
        super().__init__(f"{method}: {error}")
        self.method, self.error, self.retries = method, error, retries


class Refused(DeliveryError):
    """A permanent refusal: not retried."""

    @property
    def channel_level(self) -> bool:
        return self.error in CHANNEL_ERRORS

    @property
    def message_level(self) -> bool:
        return self.error in MESSAGE_ERRORS


class Unavailable(DeliveryError):
    """Transient errors past the retry cap (or the deadline)."""


@dataclass
class Stats:
    """Retry counts per call (for the chaos bench): the most retries of one call, and totals by outcome."""

    calls: int = 0
    retries: int = 0
    max_retries: int = 0
    refused: dict = field(default_factory=dict)
    unavailable: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def note(self, retries: int, outcome: str | None = None) -> None:
        with self.lock:
            self.calls += 1
            self.retries += retries
            self.max_retries = max(self.max_retries, retries)
            if outcome == "unavailable":
                self.unavailable += 1
            elif outcome:
                self.refused[outcome] = self.refused.get(outcome, 0) + 1

    def reset(self) -> None:
        with self.lock:
            self.calls = self.retries = self.max_retries = self.unavailable = 0
            self.refused = {}


STATS = Stats()


def classify(exc: BaseException) -> tuple[str, str, float | None]:
    """('permanent'|'transient', error code, Retry-After seconds or None)."""
    if isinstance(exc, SlackApiError):
        resp = exc.response
        status = getattr(resp, "status_code", 200) or 200
        try:
            error = (resp.get("error") if hasattr(resp, "get") else None) or ""
        except Exception:  # noqa: BLE001 — a body that is not JSON (an HTML 503 page)
            error = ""
        headers = getattr(resp, "headers", None) or {}
        if status == 429 or error in ("ratelimited", "rate_limited"):
            return "transient", "ratelimited", _retry_after(headers)
        if status >= 500:
            return "transient", error or f"http_{status}", None
        if error in TRANSIENT:
            return "transient", error, None
        return "permanent", error or f"http_{status}", None
    if isinstance(exc, (TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException,
                        urllib.error.URLError, OSError, json.JSONDecodeError)):
        return "transient", type(exc).__name__, None
    if isinstance(exc, SlackClientError):
        return "transient", type(exc).__name__, None
    raise exc


def _retry_after(headers) -> float:
    for k in ("Retry-After", "retry-after"):
        v = headers.get(k) if hasattr(headers, "get") else None
        if isinstance(v, (list, tuple)):
            v = v[0] if v else None
        if v is not None:
            try:
                return max(0.0, float(v))
            except ValueError:
                pass
    return 1.0


def _run(what: str, attempt, policy: Policy | None, sleep) -> object:
    policy = policy or POLICY
    started = time.monotonic()
    retries = 0
    while True:
        try:
            out = attempt()
            STATS.note(retries)
            return out
        except Exception as e:  # noqa: BLE001 — sorted right below; anything unknown is re-raised by classify
            try:
                kind, error, retry_after = classify(e)
            except Exception:
                STATS.note(retries, "error")
                raise
            if kind == "permanent":
                STATS.note(retries, error)
                raise Refused(what, error, retries=retries) from e
            backoff = min(policy.max_backoff_s, policy.base_s * (2 ** retries)) * (0.5 + random.random() / 2)
            wait = max(backoff, retry_after or 0.0)
            late = policy.deadline_s is not None and time.monotonic() - started + wait > policy.deadline_s
            if retries >= policy.max_retries or wait > policy.max_wait_s or late:
                STATS.note(retries, "unavailable")
                raise Unavailable(what, error, retries=retries) from e
            log.info("%s: %s, retry %d in %.1fs", what, error, retries + 1, wait)
            retries += 1
            sleep(wait)


def call(client, method: str, *, policy: Policy | None = None, sleep=time.sleep, **kw):
    """`client.<method>(**kw)` with the policy. `method` is 'chat.postMessage' or 'chat_postMessage'."""
    fn = getattr(client, method.replace(".", "_"))
    if method.replace("_", ".") == "chat.postMessage" and kw.get("channel") and "metadata" not in kw:
        return _post_once(client, fn, kw, policy, sleep)
    if method == "files_upload_v2":
        return _upload_once(client, kw, policy, sleep)
    if method.replace("_", ".") == "views.open":
        return _open_once(fn, kw, policy, sleep)
    return _run(method, lambda: fn(**kw), policy, sleep)


# ---- chat.postMessage exactly once ------------------------------------------------------------------------------
POST_EVENT = "ftbot_post"          # message metadata event_type that carries a post's delivery id
LOOKUP_MARGIN_S = 300              # how far back (before the first attempt) a lookup reads: clocks differ
LOOKUP_LIMIT = 200                 # messages per page of conversations.history / replies (Slack allows up to 999)
LOOKUP_PAGES = 10                  # pages read at most: 2,000 messages in the window before the post


def web_client(token: str, base_url: str, timeout: int) -> WebClient:
    """The WebClient every part of the bot uses: slack_sdk's one retry of a dropped connection stays for every method
    but chat.postMessage, files.completeUploadExternal and views.open, whose retries are `_post_once`'s,
    `_upload_once`'s and `_open_once`'s (they look before posting, sharing or opening again)."""
    return WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[_NoBlindRepost()])


# retried here only after looking (views.open: after reading what the repeat's refusal says)
LOOK_FIRST = ("chat.postMessage", "files.completeUploadExternal", "views.open")


class _NoBlindRepost(ConnectionErrorRetryHandler):
    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        if str(getattr(request, "url", "")).rstrip("/").rsplit("/", 1)[-1] in LOOK_FIRST:
            return False
        return super()._can_retry(state=state, request=request, response=response, error=error)


def _unknown_outcome(exc: BaseException) -> bool:
    """True when the call may have been applied although it failed: no Slack answer at all, or a 5xx page. A 429 or
    an error answer from Slack means it was not."""
    if isinstance(exc, SlackApiError):
        return (getattr(exc.response, "status_code", 200) or 200) >= 500
    return True


def _post_once(client, fn, kw: dict, policy: Policy | None, sleep):
    """chat.postMessage with a delivery id in its metadata, looked for before any repeat (module docstring)."""
    delivery_id = uuid.uuid4().hex
    kw = {**kw, "metadata": {"event_type": POST_EVENT, "event_payload": {"id": delivery_id}}}
    if is_user(str(kw["channel"])):
        # a user id: Slack posts into the bot's DM with that user, whose history reads only by the D… id — post there
        # by that id, so a lost answer can be looked up like any other
        try:
            kw["channel"] = dm_channel(client, kw["channel"], policy=policy)
        except DeliveryError as e:
            log.info("no DM id for %s (%s): posting by user id, without a lookup if the answer is lost",
                     kw["channel"], e)
    since = time.time() - LOOKUP_MARGIN_S
    return _look_first("chat.postMessage", lambda: fn(**kw),
                       lambda: find_post(client, kw["channel"], kw.get("thread_ts"), delivery_id, since,
                                         policy=policy, sleep=sleep), policy, sleep)


def _look_first(what: str, do, look, policy: Policy | None, sleep):
    """`do()` under the policy; after a failure that may have been applied, `look()` before the next attempt, and
    once more past the retry cap (the last attempt may have landed: the caller's fallback would say it twice).
    What `look` finds stands for the answer that was lost."""
    unsure = [False]

    def attempt():
        if unsure[0] and (found := look()):
            return found
        try:
            return do()
        except Exception as e:  # noqa: BLE001 — only noted here; _run sorts and re-raises it
            unsure[0] = unsure[0] or _unknown_outcome(e)
            raise

    try:
        return _run(what, attempt, policy, sleep)
    except Unavailable:
        if unsure[0] and (found := look()):
            return found
        raise


# ---- views.open once ------------------------------------------------------------------------------------------
EXCHANGED = "exchanged_trigger_id"


def _open_once(fn, kw: dict, policy: Policy | None, sleep):
    """views.open, retried after a dropped connection like any call — but a trigger_id opens one view, and Slack
    answers a repeat with `exchanged_trigger_id`. After an attempt of unknown outcome that answer means the lost
    attempt opened the form: the caller hears success (it would otherwise tell the user the form did not open while
    it is on their screen). Without an earlier unsure attempt the refusal stands."""
    unsure = [False]

    def attempt():
        try:
            return fn(**kw)
        except Exception as e:  # noqa: BLE001 — only noted here; _run sorts and re-raises it
            if unsure[0] and isinstance(e, SlackApiError) and classify(e)[1] == EXCHANGED:
                log.info("views.open: the trigger was exchanged by the attempt whose answer was lost; the form is open")
                return {"ok": True, "view": None, "opened_by_lost_attempt": True}
            unsure[0] = unsure[0] or _unknown_outcome(e)
            raise

    return _run("views.open", attempt, policy, sleep)


UPLOAD_KEYS = {"file", "content", "filename", "title", "alt_txt", "snippet_type", "channel", "thread_ts",
               "initial_comment"}


def _upload_once(client, kw: dict, policy: Policy | None, sleep) -> dict:
    """files_upload_v2's three steps, each retried on its own, the last one only after looking: an upload URL and
    the bytes (an upload never completed is discarded by Slack, so repeating these is harmless), then
    files.completeUploadExternal, which shares the file — after a failure of unknown outcome, files.info says
    whether it was shared already. Retrying slack_sdk's files_upload_v2 as a whole would share the chart twice.
    One file into one channel (what the bot shares); any other argument is refused here rather than dropped."""
    if unknown := sorted(set(kw) - UPLOAD_KEYS):
        raise TypeError(f"files_upload_v2 through slack_calls.call takes {sorted(UPLOAD_KEYS)}, not {unknown}")
    if ("file" in kw) == ("content" in kw) or not kw.get("channel"):
        raise TypeError("files_upload_v2 through slack_calls.call takes a channel= and exactly one of file= or content=")
    if "file" in kw:
        path = Path(kw["file"])
        data, default_name = path.read_bytes(), path.name
    else:
        content = kw["content"]
        data, default_name = (content.encode("utf-8") if isinstance(content, str) else bytes(content)), "file"
    filename = kw.get("filename") or default_name
    url = _run("files.getUploadURLExternal",
               lambda: client.files_getUploadURLExternal(filename=filename, length=len(data),
                                                         alt_txt=kw.get("alt_txt"), snippet_type=kw.get("snippet_type")),
               policy, sleep)
    file_id, upload_url = url["file_id"], url["upload_url"]
    _run("files.upload", lambda: _post_url(upload_url, data, "application/octet-stream", getattr(client, "timeout", 30),
                                           "file upload"), policy, sleep)
    files = [{"id": file_id, "title": kw.get("title") or filename}]
    channel, thread_ts = kw["channel"], kw.get("thread_ts")

    def complete():
        resp = client.files_completeUploadExternal(files=files, channel_id=channel, thread_ts=thread_ts,
                                                   initial_comment=kw.get("initial_comment"))
        out = dict(resp.data if hasattr(resp, "data") else resp)
        if out.get("files"):
            out["file"] = out["files"][0]
        return out
    return _look_first("files.completeUploadExternal", complete,
                       lambda: _shared_file(client, file_id, channel, policy, sleep), policy, sleep)


def _shared_file(client, file_id: str, channel: str, policy: Policy | None, sleep) -> dict | None:
    """The file, as files.completeUploadExternal would have answered, when files.info shows it shared in `channel`."""
    try:
        f = _run("files.info", lambda: client.files_info(file=file_id), policy, sleep).get("file") or {}
    except (DeliveryError, ValueError, TypeError) as e:   # cannot tell: complete it again
        log.info("could not look up file %s: %s", file_id, e)
        return None
    shares = f.get("shares") or {}
    where = {*(f.get("channels") or []), *(f.get("groups") or []), *(f.get("ims") or []),
             *(shares.get("public") or {}), *(shares.get("private") or {})}
    if channel not in where:
        return None
    log.info("file %s had been shared in %s before the connection failed", file_id, channel)
    return {"ok": True, "files": [f], "file": f}


def find_post(client, channel: str, thread_ts: str | None, delivery_id: str, since: float, *,
              policy: Policy | None = None, sleep=time.sleep) -> dict | None:
    """The message this bot posted with `delivery_id` in its metadata, as chat.postMessage would have answered
    ({ok, channel, ts, message}), or None — also when the lookup itself fails. The lookup is retried like any call
    (a transient failure of the lookup must not turn into a second post)."""
    args = dict(channel=channel, oldest=f"{since:.6f}", include_all_metadata=True, limit=LOOKUP_LIMIT)
    method = "conversations.replies" if thread_ts else "conversations.history"
    read = (lambda **a: client.conversations_replies(ts=thread_ts, **a)) if thread_ts else client.conversations_history
    cursor = None
    try:
        for _ in range(LOOKUP_PAGES):   # a busy thread: the newest replies (ours) are on its last page
            page = dict(args, cursor=cursor) if cursor else args
            resp = _run(method, lambda: read(**page), policy, sleep)
            for m in resp.get("messages") or []:
                meta = m.get("metadata") or {}
                if meta.get("event_type") == POST_EVENT and (meta.get("event_payload") or {}).get("id") == delivery_id:
                    log.info("chat.postMessage in %s had landed before the connection failed (ts %s)", channel,
                             m.get("ts"))
                    return {"ok": True, "channel": channel, "ts": m.get("ts"), "message": m}
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not (cursor and resp.get("has_more", True)):
                break
    except (DeliveryError, ValueError, TypeError) as e:   # a missing scope, Slack down: post again
        log.info("could not look for an earlier post in %s: %s", channel, e)
    return None


# ---- response_url ---------------------------------------------------------------------------------------------
RESPONSE_URL_TTL_S = 30 * 60 - 60     # Slack keeps a response_url for 30 minutes (5 uses); keep a margin


class _HookError(Exception):
    pass


def respond(url: str, *, text: str, blocks: list | None = None, response_type: str = "ephemeral",
            replace_original: bool = False, policy: Policy | None = None, sleep=time.sleep) -> None:
    """POST a message to a command's or action's `response_url` with the same retry policy."""
    body = {"text": text, "response_type": response_type, "replace_original": replace_original}
    if blocks:
        body["blocks"] = blocks
    data = json.dumps(body).encode()

    _run("response_url", lambda: _post_url(url, data, "application/json; charset=utf-8", 10, "response_url",
                                           empty_error="expired_url"), policy, sleep)


def _post_url(url: str, data: bytes, content_type: str, timeout: float, what: str, *,
              empty_error: str | None = None) -> None:
    """POST to a URL Slack handed out (a response_url, a file's upload URL). An HTTP error becomes a SlackApiError
    that `classify` sorts: 429 and 5xx transient, the rest permanent, named by the body (else `empty_error`, else
    http_<code>)."""
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read(4096)
    except urllib.error.HTTPError as e:
        payload = e.read().decode("utf-8", "replace")[:200]
        error = payload if e.code == 429 or e.code >= 500 else (payload.strip() or empty_error or f"http_{e.code}")
        raise SlackApiError(what, _HookResponse(e.code, e.headers, error)) from None
    # a response_url may refuse with 200 and {"ok": false, "error": …}: a refusal, not a delivery
    if body[:1] == b"{":
        try:
            doc = json.loads(body)
        except ValueError:
            return
        if isinstance(doc, dict) and doc.get("ok") is False:
            raise SlackApiError(what, _HookResponse(200, {}, str(doc.get("error") or "refused")))


class _HookResponse(dict):
    """Enough of a SlackResponse for classify(): status_code, headers and error."""

    def __init__(self, status: int, headers, error: str):
        super().__init__(ok=False, error=("ratelimited" if status == 429 else error))
        self.status_code, self.headers = status, dict(headers or {})


def dm_channel(client, user: str, *, policy: Policy | None = None) -> str:
    """The requester's DM channel (conversations.open, scope im:write)."""
    resp = call(client, "conversations.open", users=user, policy=policy)
    return resp["channel"]["id"]


def problem_text(channel: str | None, error: str) -> str:
    """'could not post to <#C…>: not_in_channel — invite @ftbot (`/invite @ftbot`)'."""
    where = f"<#{channel}>" if channel and channel[:1] in "CG" else (channel or "Slack")
    hint = HINTS.get(error)
    return f"could not post to {where}: {error}" + (f" — {hint}" if hint else "")


def is_user(requester: str | None) -> bool:
    """A Slack user id (U…/W…) — the CLI (`cli:…`) and the system have no DM."""
    return bool(requester) and requester[:1] in "UW" and ":" not in requester


# ---- replies after an ack, with their fallback paths -----------------------------------------------------------
class Reply:
    """Where the reply to one request goes and how it falls back: the channel (or an ephemeral there), then the
    request's `response_url` while it is valid (it works in channels the bot has not joined), then the requester's
    DM. The first path that works wins; if the first one failed, `delivery_failures` gets a row saying why and which
    path reached the requester (or `none`). When Slack refuses the message itself (`MESSAGE_ERRORS`: its blocks, its
    size), another path would refuse it alike: the same path carries its words without blocks (`PATH:plain`)."""

    def __init__(self, client, home, *, user: str | None, channel: str | None, kind: str, ref=None,
                 thread_ts: str | None = None, response_url: str | None = None, log_redact=None):
        self.client, self.home, self.user, self.channel = client, home, user, channel
        self.kind, self.ref, self.thread_ts, self.response_url = kind, ref, thread_ts, response_url
        self.issued = time.monotonic()
        self.redact = log_redact or (lambda s: s)
        self.paths: list[str] = []        # the path of each delivery made through this reply

    # the public faces ---------------------------------------------------------------------------------------
    def post(self, text: str, blocks: list | None = None, *, ephemeral: bool = False) -> str:
        """A message in the channel (thread) — or only for the requester with ephemeral=True."""
        first = "ephemeral" if ephemeral else "channel"
        return self._deliver(text, blocks, (first, "response_url", "dm"), public=not ephemeral)

    def respond(self, text: str, blocks: list | None = None, response_type: str = "ephemeral", **_) -> str:
        """What Bolt's `respond` does (response_url), with retries and the same fallbacks."""
        public = response_type == "in_channel"
        return self._deliver(text, blocks, ("response_url", "channel" if public else "ephemeral", "dm"),
                             public=public)

    # the paths ----------------------------------------------------------------------------------------------
    def _deliver(self, text, blocks, order, *, public: bool) -> str:
        first_error: DeliveryError | None = None
        for path in order:
            try:
                if not self._try(path, text, blocks, public, first_error):
                    continue
            except (Refused, Unavailable) as e:
                log.warning("%s %s: %s by %s failed: %s", self.kind, self.ref or "", e.method, path, e.error)
                first_error = first_error or e
                if not (isinstance(e, Refused) and e.message_level):
                    continue
                # Slack refuses this message, not this place: every path would refuse it the same way, so the same
                # path gets its words alone, without blocks and shorter (bot/blocks.py plain) — never silence
                path = self._plain(path, text, blocks, public, first_error)
                if path is None:
                    continue
            self.paths.append(path)
            if first_error is not None:
                self._record(first_error, path)
            return path
        self.paths.append("none")
        self._record(first_error or Refused("reply", "no_path"), "none")
        return "none"

    def _plain(self, path, text, blocks, public, error) -> str | None:
        """The message's words without blocks by `path` after Slack refused its blocks or size → 'PATH:plain', or
        None when that fails too."""
        from bot.blocks import plain
        words = plain(text, blocks) or "(this reply could not be shown in Slack)"
        try:
            if self._try(path, words, None, public, error):
                return f"{path}:plain"
        except (Refused, Unavailable) as e:
            log.warning("%s %s: plain text by %s failed too: %s", self.kind, self.ref or "", path, e.error)
        return None

    def _try(self, path, text, blocks, public, error) -> bool:
        if path == "channel":
            if not self.channel:
                return False
            call(self.client, "chat.postMessage", channel=self.channel, thread_ts=self.thread_ts, text=text,
                 blocks=blocks, unfurl_links=False)
        elif path == "ephemeral":
            if not (self.channel and self.user):
                return False
            call(self.client, "chat.postEphemeral", channel=self.channel, user=self.user, text=text, blocks=blocks,
                 thread_ts=self.thread_ts)
        elif path == "response_url":
            if not self.response_url or time.monotonic() - self.issued > RESPONSE_URL_TTL_S:
                return False
            respond(self.response_url, text=text, blocks=blocks,
                    response_type="in_channel" if public else "ephemeral")
        elif path == "dm":
            if not is_user(self.user) or (error is not None and error.error in WORKSPACE_ERRORS):
                return False
            dm = dm_channel(self.client, self.user)
            if dm == self.channel:
                return False
            why = problem_text(self.channel, error.error) if error is not None else "could not reply there"
            from bot.text_limits import cut
            note = {"type": "context", "elements": [{"type": "mrkdwn", "text": f":warning: I {why}; so here it is."}]}
            body = list(blocks) if blocks else [{"type": "section", "text": {"type": "mrkdwn", "text": cut(text)}}]
            call(self.client, "chat.postMessage", channel=dm, text=text, blocks=[note] + body, unfurl_links=False)
        return True

    def _record(self, error: DeliveryError, path: str) -> None:
        if self.home is None:
            return
        try:
            from ops import slack_refusals
            slack_refusals.record(self.home, kind=self.kind, ref=self.ref, channel=self.channel, user=self.user,
                                method=error.method, error=error.error, path=path)
        except Exception as e:  # noqa: BLE001 — recording must not hide the reply's own outcome
            log.error("could not record a delivery failure: %s", self.redact(str(e)))
