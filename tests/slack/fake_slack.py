"""A fake Slack Web API on 127.0.0.1 (real HTTP, threaded) holding channels, threads, files and views as state.

Implements what the bot calls: auth.test, chat.postMessage/update/postEphemeral, views.open/publish,
reactions.add, files.getUploadURLExternal → byte upload → files.completeUploadExternal, private file download
(Bearer token checked) and response_url posts. `rate_limit(method, times, retry_after)` makes a method answer
429 with Retry-After for the next `times` calls.

Refusals as a workspace gives them: channels the bot has not joined (`not_member` → not_in_channel), `archived`
(is_archived), `gone` (channel_not_found); `dm_refused` users cannot be DMed (conversations.open → cannot_dm).
`chaos(share, seed)` answers that share of Web API calls with a transient failure — 429 with Retry-After, a 5xx
page, a slow answer, a dropped connection (before the call is applied), and with kind "drop_after" a connection that
drops after the call was applied (the message is posted, the answer lost) — drawn from a seeded generator.
`drop_after(method, times)` does the last one deterministically. conversations.history/replies read the messages
back (with their metadata when include_all_metadata is set) and refuse channels as chat.postMessage does;
`history_refused` makes them answer missing_scope; `refuse_blocks` (an error code) refuses every message that carries
blocks (`refuse_blocks_in`: only in the channels it maps to a code) — chat.postMessage/postEphemeral answer it, a response_url answers 400 with it as the body, as webhooks do
(200 with {"ok": false} under `response_url_refuses_with_200`). Message ts are epoch seconds like Slack's, unique and increasing.
"""
from __future__ import annotations

import itertools
import json
import random
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOT_USER = "UBOT"
TEAM = "T0001"


class FakeSlack:
    def __init__(self, token: str):
        self.token = token
        self.lock = threading.Lock()
        self.log: list[dict] = []            # every call, in order: {"method", "params", "at"}
        self.messages: list[dict] = []       # channel/thread messages (postMessage), updated in place by update
        self.updates: list[dict] = []        # each chat.update call
        self.ephemerals: list[dict] = []
        self.responses: list[dict] = []      # response_url posts (respond())
        self.views: list[dict] = []          # views.open
        self.published: list[dict] = []      # views.publish
        self.reactions: list[dict] = []
        self.files: dict[str, dict] = {}     # id → {name, content, channel, thread_ts, title, shared}
        self.transcript: list[str] = []
        self._429: dict[str, list] = {}
        self._drop_after: dict[str, int] = {}
        self._last_ts = 0.0
        self.history_refused = False
        self.refuse_blocks: str | None = None  # set: every message with blocks is refused with this error
        self.refuse_blocks_in: dict[str, str] = {}  # channel → the error its messages with blocks are refused with
        self.response_url_refuses_with_200 = False   # a response_url refusal as 200 + {"ok": false}, not as a 400
        self.not_member: set[str] = set()
        self.archived: set[str] = set()
        self.gone: set[str] = set()
        self.dm_refused: set[str] = set()
        self._chaos: dict | None = None
        self.injected: dict[str, int] = {}   # failures injected by chaos, by kind
        self._fid = itertools.count(1)
        self.app_token: str | None = None   # Socket Mode: apps.connections.open answers socket_url for it
        self.socket_url: str | None = None
        self.redirects: dict[str, str] = {}  # path → Location: a GET there answers 302 (download hardening tests)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # ---- lifecycle / helpers ----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def start(self) -> "FakeSlack":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def response_url(self, tag: str = "r") -> str:
        return f"{self.url}/response/{tag}"

    def rate_limit(self, method: str, times: int, retry_after: int = 1) -> None:
        with self.lock:
            self._429[method] = [times, retry_after]

    def drop_after(self, method: str, times: int = 1) -> None:
        """The next `times` calls of `method` are applied, then their connection drops without an answer."""
        with self.lock:
            self._drop_after[method] = times

    def chaos(self, share: float, seed: int = 0, *, kinds=("429", "5xx", "slow", "drop", "drop_after"),
              retry_after: int = 0, slow_s: float = 0.3, methods: set | None = None) -> None:
        """From now on, `share` of Web API calls (of `methods`, default all but auth.test) fail transiently."""
        with self.lock:
            self._chaos = {"share": share, "rng": random.Random(seed), "kinds": tuple(kinds),
                           "retry_after": retry_after, "slow_s": slow_s, "methods": methods}

    def _refusal(self, channel: str | None) -> str | None:
        if not channel:
            return "channel_not_found"
        if channel in self.gone:
            return "channel_not_found"
        if channel in self.archived:
            return "is_archived"
        if channel in self.not_member:
            return "not_in_channel"
        return None

    def add_file(self, name: str, content: bytes) -> dict:
        """A file a user shared; returns the `files[]` entry Slack puts in the event."""
        with self.lock:
            fid = f"F{next(self._fid):05d}"
            self.files[fid] = {"id": fid, "name": name, "content": content, "shared": True, "by": "user"}
        return {"id": fid, "name": name, "size": len(content), "filetype": name.rsplit(".", 1)[-1],
                "url_private_download": f"{self.url}/files-pri/{TEAM}-{fid}/download/{name}",
                "url_private": f"{self.url}/files-pri/{TEAM}-{fid}/{name}"}

    def calls(self, method: str) -> list[dict]:
        with self.lock:
            return [c for c in self.log if c["method"] == method]

    def channel_messages(self, channel: str, thread_ts: str | None = None, top_level: bool = False) -> list[dict]:
        with self.lock:
            out = [m for m in self.messages if m["channel"] == channel]
        if top_level:
            return [m for m in out if not m.get("thread_ts")]
        if thread_ts is not None:
            return [m for m in out if m.get("thread_ts") == thread_ts]
        return out

    def wait_for(self, pred, timeout: float = 30.0, what: str = "condition"):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r = pred()
            if r:
                return r
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}\n--- transcript ---\n" + "\n".join(self.transcript))

    def _note(self, line: str) -> None:
        self.transcript.append(line)

    # ---- Web API ------------------------------------------------------------------------------------------
    def api(self, method: str, params: dict, auth: str | None) -> tuple[int, dict, dict]:
        slow, drop_after = 0.0, False
        with self.lock:
            self.log.append({"method": method, "params": params, "at": time.monotonic()})
            limit = self._429.get(method)
            if limit and limit[0] > 0:
                limit[0] -= 1
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(limit[1])}
            c = self._chaos
            if c and method != "auth.test" and (c["methods"] is None or method in c["methods"]) \
                    and c["rng"].random() < c["share"]:
                kind = c["rng"].choice(c["kinds"])
                self.injected[kind] = self.injected.get(kind, 0) + 1
                self.log[-1]["injected"] = kind
                if kind == "429":
                    return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(c["retry_after"])}
                if kind == "5xx":
                    return 503, b"<html>503 Service Unavailable</html>", {}
                if kind == "drop":
                    return 0, None, {}
                if kind == "drop_after":
                    drop_after = True
                else:
                    slow = c["slow_s"]
            if self._drop_after.get(method, 0) > 0:
                self._drop_after[method] -= 1
                self.log[-1]["injected"] = "drop_after"
                drop_after = True
        if slow:
            time.sleep(slow)
        if drop_after:
            self._apply(method, params, auth)   # applied, then the connection drops: the caller never hears
            return 0, None, {}
        return self._apply(method, params, auth)

    def _apply(self, method: str, params: dict, auth: str | None) -> tuple[int, dict, dict]:
        if method == "apps.connections.open":      # the one call made with the app-level token
            ok = self.app_token and auth == f"Bearer {self.app_token}" and self.socket_url
            return 200, ({"ok": True, "url": self.socket_url} if ok else {"ok": False, "error": "invalid_auth"}), {}
        if auth != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        fn = getattr(self, "m_" + method.replace(".", "_"), None)
        if fn is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        with self.lock:
            return 200, fn(params), {}

    def _new_ts(self) -> str:
        self._last_ts = max(time.time(), self._last_ts + 1e-6)
        return f"{self._last_ts:.6f}"

    def _read(self, p, replies: bool):
        if self.history_refused:
            return {"ok": False, "error": "missing_scope", "needed": "channels:history"}
        if err := self._refusal(p.get("channel")):
            return {"ok": False, "error": err}
        oldest = float(p.get("oldest") or 0)
        limit = int(p.get("limit") or 100)
        meta = str(p.get("include_all_metadata")).lower() in ("1", "true")
        out = [m for m in self.messages if m["channel"] == p["channel"] and float(m["ts"]) >= oldest]
        if replies:     # the thread, oldest first
            out = [m for m in out if m.get("thread_ts") == p.get("ts") or m["ts"] == p.get("ts")]
        else:           # top-level messages, newest first
            out = [m for m in out if not m.get("thread_ts")][::-1]
        start = int(p.get("cursor") or 0)          # Slack's cursors are opaque; an offset serves here
        page, more = out[start:start + limit], start + limit < len(out)
        return {"ok": True, "messages": [{k: v for k, v in m.items() if meta or k != "metadata"} for m in page],
                "has_more": more, "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def m_conversations_history(self, p):
        return self._read(p, replies=False)

    def m_conversations_replies(self, p):
        return self._read(p, replies=True)

    def m_auth_test(self, p):
        return {"ok": True, "url": "https://fake.slack/", "team": "Fake", "user": "ftbot", "team_id": TEAM,
                "user_id": BOT_USER, "bot_id": "BBOT"}

    def m_conversations_open(self, p):
        user = (p.get("users") or "").split(",")[0]
        if not user or user in self.dm_refused:
            return {"ok": False, "error": "cannot_dm_bot" if not user else "user_disabled"}
        return {"ok": True, "channel": {"id": "D" + user}}

    def m_chat_postMessage(self, p):
        if err := self._refusal(p.get("channel")) or self._blocks_refusal(p):
            return {"ok": False, "error": err}
        if len(p.get("text") or "") > 40000:
            return {"ok": False, "error": "msg_too_long"}
        ts = self._new_ts()
        msg = {"channel": p["channel"], "ts": ts, "thread_ts": p.get("thread_ts") or None, "text": p.get("text") or "",
               "blocks": _json(p.get("blocks")), "user": BOT_USER}
        if p.get("metadata"):
            msg["metadata"] = _json(p["metadata"])
        self.messages.append(msg)
        where = f"thread {msg['thread_ts']}" if msg["thread_ts"] else "channel"
        self._note(f"[{p['channel']} {where}] ftbot: {_flat(msg)}")
        return {"ok": True, "channel": p["channel"], "ts": ts, "message": msg}

    def m_chat_update(self, p):
        if err := self._refusal(p.get("channel")):
            return {"ok": False, "error": err}
        for m in self.messages:
            if m["channel"] == p.get("channel") and m["ts"] == p.get("ts"):
                m["text"], m["blocks"] = p.get("text") or m["text"], _json(p.get("blocks")) or m["blocks"]
                m["edits"] = m.get("edits", 0) + 1
                self.updates.append({"channel": m["channel"], "ts": m["ts"], "text": m["text"], "blocks": m["blocks"],
                                     "at": time.monotonic()})
                self._note(f"[{m['channel']} edit {m['ts']}] ftbot: {_flat(m)}")
                return {"ok": True, "channel": m["channel"], "ts": m["ts"]}
        return {"ok": False, "error": "message_not_found"}

    def m_chat_postEphemeral(self, p):
        if err := self._refusal(p.get("channel")) or self._blocks_refusal(p):
            return {"ok": False, "error": err}
        e = {"channel": p.get("channel"), "user": p.get("user"), "text": p.get("text") or "",
             "blocks": _json(p.get("blocks")), "thread_ts": p.get("thread_ts")}
        self.ephemerals.append(e)
        self._note(f"[{e['channel']} only for {e['user']}] ftbot: {_flat(e)}")
        return {"ok": True, "message_ts": self._new_ts()}

    def _blocks_refusal(self, p) -> str | None:
        error = self.refuse_blocks or self.refuse_blocks_in.get(p.get("channel") or "")
        return error if error and _json(p.get("blocks")) else None

    def m_views_open(self, p):
        # a trigger_id opens one view: Slack answers a second views.open with it `exchanged_trigger_id`
        if any(v["trigger_id"] == p.get("trigger_id") for v in self.views):
            return {"ok": False, "error": "exchanged_trigger_id"}
        view = _json(p.get("view"))
        self.views.append({"trigger_id": p.get("trigger_id"), "view": view})
        self._note(f"[modal opened] {view.get('title', {}).get('text')}")
        return {"ok": True, "view": {**view, "id": "V0001"}}

    def m_views_publish(self, p):
        view = _json(p.get("view"))
        self.published.append({"user_id": p.get("user_id"), "view": view})
        self._note(f"[home tab of {p.get('user_id')}] published ({len(view.get('blocks', []))} blocks)")
        return {"ok": True, "view": view}

    def m_reactions_add(self, p):
        if err := self._refusal(p.get("channel")):
            return {"ok": False, "error": err}
        self.reactions.append({"channel": p.get("channel"), "timestamp": p.get("timestamp"), "name": p.get("name")})
        return {"ok": True}

    def m_files_getUploadURLExternal(self, p):
        fid = f"F{next(self._fid):05d}"
        self.files[fid] = {"id": fid, "name": p.get("filename"), "length": int(p.get("length") or 0),
                           "content": None, "shared": False, "by": "bot"}
        return {"ok": True, "file_id": fid, "upload_url": f"{self.url}/upload/v1/{fid}"}

    def m_files_completeUploadExternal(self, p):
        if err := self._refusal(p.get("channel_id")):
            return {"ok": False, "error": err}
        out = []
        for f in _json(p.get("files")) or []:
            rec = self.files.get(f["id"])
            if rec is None or rec["content"] is None:
                return {"ok": False, "error": "file_not_found"}
            rec.update(title=f.get("title"), channel=p.get("channel_id"), thread_ts=p.get("thread_ts"), shared=True,
                       initial_comment=p.get("initial_comment"))
            where = f"thread {rec['thread_ts']}" if rec["thread_ts"] else "channel"
            self._note(f"[{rec['channel']} {where}] ftbot uploaded {rec['name']} ({len(rec['content'])} bytes):"
                       f" {rec['title']}")
            out.append({"id": rec["id"], "title": rec["title"], "name": rec["name"]})
        return {"ok": True, "files": out}

    def m_files_info(self, p):
        rec = self.files.get(p.get("file") or "")
        if rec is None:
            return {"ok": False, "error": "file_not_found"}
        shared = rec.get("channel") if rec.get("shared") and rec.get("by") != "user" else None
        kind = "private" if shared and shared[:1] in "GD" else "public"
        return {"ok": True, "file": {"id": rec["id"], "name": rec["name"], "title": rec.get("title"),
                                     "channels": [shared] if shared and shared[:1] == "C" else [],
                                     "groups": [shared] if shared and shared[:1] == "G" else [],
                                     "ims": [shared] if shared and shared[:1] == "D" else [],
                                     "shares": {kind: {shared: [{"ts": rec.get("thread_ts") or ""}]}} if shared else {}}}

    # ---- non-API endpoints --------------------------------------------------------------------------------
    def upload(self, fid: str, data: bytes) -> int:
        with self.lock:
            rec = self.files.get(fid)
            if rec is None:
                return 404
            rec["content"] = data
            return 200

    def download(self, path: str, auth: str | None) -> tuple[int, bytes]:
        if auth != f"Bearer {self.token}":
            return 403, b"<html>login</html>"
        fid = path.split("/")[2].split("-", 1)[1]
        with self.lock:
            rec = self.files.get(fid)
        return (200, rec["content"]) if rec else (404, b"")

    def respond(self, tag: str, body: dict) -> None:
        with self.lock:
            self.responses.append({"tag": tag, **body})
            kind = body.get("response_type") or "ephemeral"
            self._note(f"[response_url {tag}, {kind}] ftbot: {_flat(body)}")


def _json(v):
    if v is None or v == "":
        return None
    if isinstance(v, (dict, list)):
        return v
    try:
        return json.loads(v)
    except (TypeError, ValueError):
        return v


def _flat(msg: dict) -> str:
    """The readable text of a message: its section/context texts, else `text`."""
    parts = []
    for b in msg.get("blocks") or []:
        if not isinstance(b, dict):
            continue
        if b.get("type") == "section" and b.get("text"):
            parts.append(b["text"]["text"])
        elif b.get("type") == "context":
            parts.append(" ".join(e.get("text", "") for e in b.get("elements", [])))
        elif b.get("type") == "actions":
            parts.append("[" + " | ".join(e.get("text", {}).get("text", "") for e in b.get("elements", [])) + "]")
    return " ⏎ ".join(p.replace("\n", " ⏎ ") for p in parts) if parts else (msg.get("text") or "")


def _handler(fake: FakeSlack):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def _send(self, status: int, body, headers: dict | None = None, ctype="application/json; charset=utf-8"):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _params(self, raw: bytes) -> dict:
            url = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(url.query))
            ctype = self.headers.get("Content-Type") or ""
            if raw:
                if "json" in ctype:
                    params.update(json.loads(raw))
                else:
                    params.update(urllib.parse.parse_qsl(raw.decode()))
            return params

        def do_GET(self):
            raw = self._body()
            path = urllib.parse.urlsplit(self.path).path
            if path in fake.redirects:
                return self._send(302, b"", {"Location": fake.redirects[path]})
            if path.startswith("/files-pri/"):
                status, data = fake.download(path, self.headers.get("Authorization"))
                return self._send(status, data, ctype="text/html" if status == 403 else "application/octet-stream")
            if path.startswith("/api/"):
                return self._api(path, raw)
            self._send(404, {"ok": False})

        def do_POST(self):
            raw = self._body()
            path = urllib.parse.urlsplit(self.path).path
            if path.startswith("/api/"):
                return self._api(path, raw)
            if path.startswith("/upload/v1/"):
                return self._send(fake.upload(path.rsplit("/", 1)[1], raw), b"OK - 2", ctype="text/plain")
            if path.startswith("/response/"):
                body = json.loads(raw or b"{}")
                if err := fake._blocks_refusal(body):       # as incoming webhooks do: 400, the error as the body
                    if fake.response_url_refuses_with_200:
                        return self._send(200, {"ok": False, "error": err})
                    return self._send(400, err.encode(), ctype="text/plain")
                fake.respond(path.split("/", 2)[2], body)
                return self._send(200, b"ok", ctype="text/plain")
            self._send(404, {"ok": False})

        def _api(self, path, raw):
            status, body, headers = fake.api(path[len("/api/"):], self._params(raw), self.headers.get("Authorization"))
            if status == 0:           # a dropped connection: no answer at all
                self.close_connection = True
                self.connection.shutdown(2)
                return
            ctype = "text/html" if isinstance(body, bytes) else "application/json; charset=utf-8"
            self._send(status, body, headers, ctype=ctype)

    return H
