"""HTTP serving: waitress with POST /slack/events through Bolt and GET /healthz → 200.

`serve()` blocks (for `ftbot serve --port N`); `start()` runs the same thing on a background thread and returns a
handle with `.url` and `.stop()` (tests, bench). The notifier and, if asked, an embedded job worker run beside it.

Waitress reads requests on one event loop and hands only complete ones to a fixed pool of request threads
(FTBOT_HTTP_THREADS), so a connection that is slow to send its request holds a socket, never a thread. It caps the
header block (431) and the body (413) while reading, and closes connections that go quiet (channel_timeout).
A client that trickles a byte now and then is never quiet; `_DeadlineServer` adds a whole-request deadline.
"""
from __future__ import annotations

import json
import logging
import resource
import signal
import socket
import threading
import time
from dataclasses import dataclass, field

from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer

from bot.app import build_app
from bot.http_guard import MAX_BODY_BYTES
from bot.http_request import FormSafeHandler
from bot.listeners import Deps
from bot.notify import Notifier
from bot.settings import Settings

log = logging.getLogger("ftbot.server")

MAX_HEADER_BYTES = 32 * 1024   # request line and headers; Slack sends ~1 KiB, a proxy in front adds a few more
BACKLOG = 1024                 # connections the kernel queues while all connection slots are taken


class _TimedParser(HTTPRequestParser):
    """Waitress's request parser, stamped with the time the request's first byte arrived."""

    def __init__(self, adj):
        super().__init__(adj)
        self.first_byte_at = time.time()


class _TimedChannel(HTTPChannel):
    parser_class = _TimedParser


class _DeadlineServer(TcpWSGIServer):
    """Waitress's server, whose periodic maintenance also closes connections still sending one request after
    channel_timeout seconds. Waitress's own check counts silence only, and a client sending a byte every few
    seconds is never silent: without this, a few hundred such clients would fill connection_limit for good.
    A connection is thus held about 2 × channel_timeout at most (silent before its first byte, then the deadline),
    plus up to two seconds for the maintenance tick (cleanup_interval) and the event loop's poll timeout."""

    channel_class = _TimedChannel

    def maintenance(self, now):
        super().maintenance(now)
        cutoff = now - self.adj.channel_timeout
        late = [ch for ch in self.active_channels.values()
                if not ch.requests and ch.request is not None and ch.request.first_byte_at < cutoff]
        for ch in late:
            ch.will_close = True     # the event loop closes it on its next pass
        if late:
            log.info("closed %d connection(s) that did not send a whole request within %d s",
                     len(late), self.adj.channel_timeout)


class HTTPServer:
    """`app` served by waitress on (host, port): the event loop on a daemon thread, requests on the thread pool."""

    def __init__(self, app, host: str, port: int, settings: Settings):
        _allow_open_files(settings.http_connection_limit)
        sock = socket.create_server((host, port), backlog=BACKLOG)
        adj = Adjustments(
            sockets=[sock], threads=settings.http_threads, connection_limit=settings.http_connection_limit,
            channel_timeout=settings.http_read_timeout_s,
            cleanup_interval=1,                            # run maintenance (both timeouts) every second
            asyncore_use_poll=True,                        # select() stops at 1024 file descriptors
            max_request_header_size=MAX_HEADER_BYTES,
            max_request_body_size=MAX_BODY_BYTES + 1,      # waitress refuses at >=; the guard allows exactly the cap
            backlog=BACKLOG, ident="ftbot")
        self._map: dict = {}
        self.server = _DeadlineServer(app, self._map, _sock=sock, adj=adj, bind_socket=False,
                                      sockinfo=(sock.family, sock.type, sock.proto, sock.getsockname()))
        self.host, self.port = sock.getsockname()[:2]
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="ftbot-http", daemon=True)

    def start(self) -> "HTTPServer":
        self.thread.start()
        return self

    def _loop(self) -> None:
        while not self._stopping.is_set():
            wasyncore.loop(timeout=self.server.adj.asyncore_loop_timeout, map=self._map, use_poll=True, count=1)

    def stop(self) -> None:
        """Wake the loop, let it end, then close every socket (listener included) from this thread. Idempotent."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self.thread.is_alive():
            self.server.pull_trigger()
            self.thread.join(timeout=5)
        wasyncore.close_all(self._map, ignore_all=True)
        self.server.task_dispatcher.shutdown(timeout=1)    # request threads are daemons; do not wait long


def _allow_open_files(connections: int) -> None:
    """Each connection is a file descriptor: raise the soft limit towards the hard one if it is too low."""
    need = connections + 256                   # database, models, logs, the Slack client's own sockets
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < need:
        log.warning("FTBOT_HTTP_CONNECTIONS=%d needs ~%d open files; the limit is %d (raise `ulimit -n`)",
                    connections, need, target)


def wsgi_app(slack_handler: SlackRequestHandler, guard=None):
    """`guard` (bot/http_guard.py) wraps the Slack handler: body cap, replay protection."""
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
    server: HTTPServer
    deps: Deps
    notifier: Notifier | None
    threads: list = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    worker: object = None
    socket: object = None      # the Socket Mode handler, when serving over Slack's WebSocket
    reports: object = None     # bot/notify/reports.py ReportPoster

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        host = self.server.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def stop(self) -> None:
        self.stop_event.set()
        if self.socket is not None:
            self.socket.close()
        self.server.stop()
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
    server = HTTPServer(wsgi_app(FormSafeHandler(app), guard), host, port, settings).start()
    running = Running(server=server, deps=deps, notifier=note)
    running.reports = reports
    running.threads.append(server.thread)
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
