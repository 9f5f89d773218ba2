"""Signs and posts what Slack would send: slash commands, events, interactivity (real HMAC v0 signatures)."""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import urllib.error
import urllib.parse
import urllib.request

_ids = itertools.count(1)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class Driver:
    def __init__(self, server_url: str, signing_secret: str, fake=None, team: str = "T0001"):
        self.url = server_url.rstrip("/") + "/slack/events"
        self.secret = signing_secret
        self.fake = fake
        self.team = team

    def post(self, body: bytes, content_type: str, *, timestamp: int | None = None, secret: str | None = None,
             headers: dict | None = None) -> tuple[int, bytes, float]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        h = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
             "X-Slack-Signature": sign(secret or self.secret, ts, body), **(headers or {})}
        req = urllib.request.Request(self.url, data=body, headers=h, method="POST")
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read(), time.perf_counter() - t0
        except urllib.error.HTTPError as e:
            return e.code, e.read(), time.perf_counter() - t0

    def command(self, text: str, *, user: str = "UADMIN", channel: str = "C0001", tag: str | None = None,
                extra: dict | None = None, **kw):
        n = next(_ids)
        form = {"token": "legacy", "team_id": self.team, "channel_id": channel, "channel_name": "ml",
                "user_id": user, "user_name": user.lower(), "command": "/ft", "text": text,
                "response_url": self.fake.response_url(tag or f"cmd{n}") if self.fake else "",
                "trigger_id": f"trig.{n}", "api_app_id": "A0001", **(extra or {})}
        return self.post(urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded", **kw)

    def event(self, event: dict, *, event_id: str | None = None, retry_num: int | None = None, **kw):
        body = {"token": "legacy", "team_id": self.team, "api_app_id": "A0001", "type": "event_callback",
                "event_id": event_id or f"Ev{next(_ids):08d}", "event_time": int(time.time()), "event": event,
                "authorizations": [{"team_id": self.team, "user_id": "UBOT", "is_bot": True}]}
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else None
        return self.post(json.dumps(body).encode(), "application/json", headers=headers, **kw)

    def mention(self, text: str, *, channel: str = "C0001", user: str = "UADMIN", ts: str | None = None,
                thread_ts: str | None = None, files: list | None = None, both: bool = True, **kw):
        """A channel mention as Slack sends it: app_mention and message (same channel+ts, different event ids)."""
        ts = ts or f"1710000000.{next(_ids):06d}"
        ev = {"type": "app_mention", "user": user, "text": f"<@UBOT> {text}", "ts": ts, "channel": channel,
              "event_ts": ts}
        if thread_ts:
            ev["thread_ts"] = thread_ts
        if files:
            ev["files"] = files
        out = [self.event(ev, **kw)]
        if both:
            msg = {**ev, "type": "message", "channel_type": "channel"}
            if files:
                msg["subtype"] = "file_share"
            out.append(self.event(msg, **kw))
        return ts, out

    def interactive(self, payload: dict, **kw):
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, "application/x-www-form-urlencoded", **kw)

    def click(self, action_id: str, value: str, *, user: str = "UADMIN", channel: str = "C0001",
              message: dict | None = None, **kw):
        payload = {"type": "block_actions", "team": {"id": self.team}, "user": {"id": user, "team_id": self.team},
                   "api_app_id": "A0001", "token": "legacy", "trigger_id": f"trig.{next(_ids)}",
                   "channel": {"id": channel}, "container": {"type": "message", "channel_id": channel},
                   "message": message or {"ts": "1", "text": ""},
                   "response_url": self.fake.response_url(f"act{next(_ids)}") if self.fake else "",
                   "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                                "action_ts": str(time.time())}]}
        return self.interactive(payload, **kw)

    def submit_view(self, callback_id: str, values: dict, *, user: str = "UADMIN", private_metadata: str = "C0001",
                    **kw):
        """`values`: {block_id: str} for text inputs or {block_id: ("select", value)} for selects/radios."""
        state = {}
        for block, v in values.items():
            if isinstance(v, tuple):
                state[block] = {"value": {"type": v[0], "selected_option": {"value": v[1], "text": {
                    "type": "plain_text", "text": v[1]}}}}
            else:
                state[block] = {"value": {"type": "plain_text_input", "value": v}}
        payload = {"type": "view_submission", "team": {"id": self.team}, "user": {"id": user, "team_id": self.team},
                   "api_app_id": "A0001", "token": "legacy", "trigger_id": f"trig.{next(_ids)}",
                   "view": {"id": "V0001", "type": "modal", "callback_id": callback_id,
                            "private_metadata": private_metadata, "state": {"values": state}}}
        return self.interactive(payload, **kw)
