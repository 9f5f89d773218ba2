"""In front of Bolt on POST /slack/events: a body-size cap, and replay protection.

Size: Slack's payloads are a few KiB (a slash command at most ~4 KB of text, a view submission tens of KiB). The
HTTP server (bot/server.py, waitress) already refuses a body above MAX_BODY_BYTES (1 MiB) with 413 while reading —
from its Content-Length alone, or once a chunked body passes the cap — and hands on chunked bodies de-chunked, with
a Content-Length. This guard repeats the cap from Content-Length before reading, so it holds under any WSGI server,
and answers 411 to a body whose length is not given.

Replays: Slack signs `v0:timestamp:body` and Bolt refuses signatures older than 5 minutes, but within that window
the same signed request could be sent again (a copied `/ft deploy`, a captured request). A verified signature is
remembered (seen_deliveries, key `sig:<hex>`, dropped after a day by retention) and a second request carrying it is
answered 200 with nothing done. Slack's own event retries carry new signatures and are collapsed on event_id.
"""
from __future__ import annotations

import io
import logging

from slack_sdk.signature import SignatureVerifier

log = logging.getLogger("ftbot.server")

MAX_BODY_BYTES = 1 << 20


def _plain(start_response, status: str, text: str):
    body = text.encode()
    # the server has buffered the whole body before the app runs, so an unread body cannot spill into the next request
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


class SlackRequestGuard:
    def __init__(self, handler, signing_secret: str, first_time, max_body: int = MAX_BODY_BYTES):
        """`handler`: the WSGI app behind (Bolt's); `first_time(key) -> bool` records a key (ops.event_dedupe)."""
        self.handler = handler
        self.verifier = SignatureVerifier(signing_secret)
        self.first_time = first_time
        self.max_body = max_body

    def __call__(self, environ, start_response):
        if environ.get("HTTP_TRANSFER_ENCODING") or not (environ.get("CONTENT_LENGTH") or "").strip():
            return _plain(start_response, "411 Length Required", "Content-Length required")
        try:
            length = int(environ["CONTENT_LENGTH"])
        except ValueError:
            return _plain(start_response, "400 Bad Request", "bad Content-Length")
        if length < 0:
            return _plain(start_response, "400 Bad Request", "bad Content-Length")
        if length > self.max_body:
            log.warning("refused a %d-byte request body (limit %d)", length, self.max_body)
            return _plain(start_response, "413 Payload Too Large", "request body too large")
        body = environ["wsgi.input"].read(length) if length else b""
        environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        ts = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or ""
        sig = environ.get("HTTP_X_SLACK_SIGNATURE") or ""
        # Refused here, before Bolt parses the body: an unsigned JSON body that does not parse would otherwise end
        # in a 500 and a logged traceback, and anyone could fill the logs. Bolt verifies again behind us.
        # slack_sdk's verifier int()s the timestamp unchecked: a non-numeric one must be a 401, not a 500
        if not sig or not ts.isdigit() or not self.verifier.is_valid(body, ts, sig):
            return _plain(start_response, "401 Unauthorized", "invalid request signature")
        # Only a valid signature is remembered (a forged one must not fill the table).
        if not self.first_time("sig:" + sig.removeprefix("v0=")):
            log.warning("ignored a replayed Slack request (signed at %s)", ts)
            return _plain(start_response, "200 OK", "")
        return self.handler(environ, start_response)
