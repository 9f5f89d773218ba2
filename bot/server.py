"""HTTP serving: a threaded WSGI server with POST /slack/events through Bolt and GET /healthz → 200.

`serve()` blocks (for `ftbot serve --port N`); `start()` runs the same thing on a background thread and returns a
handle with `.url` and `.stop()` (tests, bench). The notifier and, if asked, an embedded job worker run beside it.
"""
from __future__ import annotations

import json
import logging
import signal
import socketserver
import threading
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.app import build_app
from bot.http_request import FormSafeHandler
from bot.listeners import Deps
from bot.notify import Notifier
from bot.settings import Settings

log = logging.getLogger("ftbot.server")


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128     # 50 commands at once must not be refused by the listen backlog
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 — access lines go to debug, never with bodies
        log.debug("%s %s", self.address_string(), format % args)


def wsgi_app(slack_handler: SlackRequestHandler, guard=None):
    """`guard` (bot/http_guard.py) wraps the Slack handler: body cap before reading, replay protection."""
    events = guard(slack_handler) if guard else slack_handler

    def app(environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/healthz" and method in ("GET", "HEAD"):
            body = json.dumps({"ok": True}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/slack/events" and method == "POST":
            return events(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not Found"]
    return app


@dataclass
class Running:
    server: ThreadingWSGIServer
    deps: Deps
    notifier: Notifier | None
    threads: list = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    worker: object = None
    socket: object = None      # the Socket Mode handler, when serving over Slack's WebSocket
    reports: object = None     # bot/notify/reports.py ReportPoster

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.server.server_address[0]}:{self.port}"

    def stop(self) -> None:
        self.stop_event.set()
        if self.socket is not None:
            self.socket.close()
        self.server.shutdown()
        self.server.server_close()
        if self.notifier:
            self.notifier.stop()
        if self.reports is not None:
            self.reports.stop()
        if self.worker is not None:
            self.worker.stop(wait=False)
        self.deps.executor.shutdown(wait=False, cancel_futures=True)


def start(settings: Settings, host: str = "127.0.0.1", port: int = 3000, *, embedded_worker: bool = True,
          notifier: bool = True, deps: Deps | None = None, notify_poll_s: float = 1.0,
          socket_mode: bool = False) -> Running:
    # Migrate once before any thread connects: concurrent first-time migrations race on CREATE TABLE.
    from storage import connect
    with connect(settings.home):
        pass
    if socket_mode:
        from bot.socket_mode import check_app_token
        check_app_token(settings)   # before anything starts: a bad token is a one-line error
    app, deps = build_app(settings, deps)
    note = Notifier(settings, poll_s=notify_poll_s).start() if notifier else None
    deps.notifier = note
    from bot.http_guard import SlackRequestGuard
    guard = lambda h: SlackRequestGuard(h, settings.signing_secret, deps.ops.first_delivery)  # noqa: E731
    from bot.notify.reports import ReportPoster   # daily challenger reports queued by the scheduler
    reports = ReportPoster(settings, deps, poll_s=max(notify_poll_s, 0.2) * 30).start() if notifier else None
    server = make_server(host, port, wsgi_app(FormSafeHandler(app), guard), server_class=ThreadingWSGIServer,
                         handler_class=_QuietHandler)
    running = Running(server=server, deps=deps, notifier=note)
    running.reports = reports
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="ftbot-http", daemon=True)
    t.start()
    running.threads.append(t)
    if embedded_worker:
        running.worker = _start_worker(settings, running.stop_event)
    if socket_mode:
        from bot import socket_mode as sm
        try:
            running.socket = sm.connect(app, settings)
        except BaseException:
            running.stop()
            raise
    log.info("ftbot serving Slack %s (health: %s/healthz)",
             "over Socket Mode" if socket_mode else f"on {running.url}/slack/events", running.url)
    return running


def serve(settings: Settings, host: str = "0.0.0.0", port: int = 3000, embedded_worker: bool = True,
          socket_mode: bool = False) -> None:
    """Block until SIGINT/SIGTERM."""
    from ops import serving
    serving.configure()    # torch threads for the answer path (FTBOT_ANSWER_THREADS)
    running = start(settings, host, port, embedded_worker=embedded_worker, socket_mode=socket_mode)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, lambda *_: done.set())
        except ValueError:   # not the main thread
            pass
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


def _start_worker(settings: Settings, stop_event: threading.Event):
    """The job runner's embedded worker (jobs.worker), when it is installed."""
    try:
        from jobs import worker as jobs_worker
    except ImportError:
        log.warning("no embedded worker (jobs.worker is missing); run `ftbot worker` beside the server")
        return None
    from bot.notify.schedules import schedule_notifier
    # the scheduler posts re-evaluations and failed fires through this hook (jobs never imports bot)
    return jobs_worker.Worker(settings.home, notify=schedule_notifier(settings)).start()
