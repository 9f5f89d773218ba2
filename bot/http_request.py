"""Bolt's HTTP request parsing, with one dependency bug worked around.

slack_bolt (1.30, `slack_bolt/request/internals.py parse_body`) decides that a form body is an interactivity
payload when the *substring* "payload" occurs anywhere in it, then reads only the `payload=` field. A slash command
whose text holds the word (`/ft ask what is the payload limit for a SEPA transfer?`) has no such field, so Bolt
sees an empty body, matches no listener and answers 404 (`dispatch_failed`). We parse such bodies as the plain form
they are. The signature check is unaffected: it runs over `raw_body`, which we never change. Remove this module
once slack_bolt checks for the `payload` key instead of the substring.
"""
from __future__ import annotations

from urllib.parse import parse_qsl

from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.context import BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context


class FormSafeRequest(BoltRequest):
    def __init__(self, **kw):
        super().__init__(**kw)
        fix_form_body(self)

    def to_copyable(self) -> "BoltRequest":
        copy = super().to_copyable()
        fix_form_body(copy)
        return copy


def fix_form_body(req: BoltRequest) -> None:
    raw = req.raw_body or ""
    if req.body or not raw or raw.lstrip().startswith("{") or req.content_type == "application/json":
        return
    form = dict(parse_qsl(raw, keep_blank_values=True))
    if "payload" in form:
        return        # a real interactivity payload: Bolt parsed it (or it was empty on purpose)
    req.body = form
    req.context = build_context(BoltContext(dict(req.context)), req.body)


class FormSafeHandler(SlackRequestHandler):
    def dispatch(self, request):
        return self.app.dispatch(FormSafeRequest(body=request.get_body(), query=request.query_string,
                                                 headers=request.get_headers()))
