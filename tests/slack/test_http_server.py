"""`ftbot serve`'s HTTP server (waitress) under abuse: slow-loris and trickling clients hold no request thread, do not
lock out Slack, and are closed after the read timeout; many concurrent clients are all answered by a fixed thread
pool; oversized headers and bodies are refused while reading; stop() leaves no listening socket; the three
settings are validated."""
from __future__ import annotations

import dataclasses
import selectors
import socket
import threading
import time
import urllib.parse
import urllib.request

import pytest

from bot.http_guard import MAX_BODY_BYTES
from bot.server import MAX_HEADER_BYTES, start
from bot.settings import Settings
from engine.errors import ConfigError
from tests.slack.conftest import SIGNING_SECRET
from tests.slack.driver import Driver, sign

THREADS = 4
READ_TIMEOUT_S = 1


@pytest.fixture()
def small(settings):
    """The real server with a small request pool and a one-second read timeout."""
    running = start(dataclasses.replace(settings, http_threads=THREADS, http_read_timeout_s=READ_TIMEOUT_S),
                    "127.0.0.1", 0, embedded_worker=False, notify_poll_s=0.2)
    yield running
    running.stop()


def _request_threads() -> int:
    return sum(t.name.startswith("waitress-") for t in threading.enumerate())


def _connect(port: int, first: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(first)
    return s


def _healthz_seconds(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url + "/healthz", timeout=5) as r:
        assert r.status == 200
    return time.perf_counter() - t0


def _wait_closed_by_server(socks, within: float) -> set:
    """The sockets still open after `within` seconds (closed = EOF or reset seen by the client)."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    still, end = set(socks), time.monotonic() + within
    while still and time.monotonic() < end:
        for key, _ in sel.select(timeout=0.2):
            try:
                data = key.fileobj.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                still.discard(key.fileobj)
    sel.close()
    return still


def _raw_status(port: int, raw: bytes) -> bytes:
    with _connect(port, raw) as s:
        return s.recv(200).split(b"\r\n")[0].split(b" ")[1]


def test_slow_loris_holds_no_threads_and_is_cut_off(small, fake):
    driver = Driver(small.url, SIGNING_SECRET, fake)
    assert driver.command("help")[0] == 200          # warm: Bolt's lazy pieces exist before the baseline
    baseline = threading.active_count()
    head = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    stalled = [_connect(small.port, head) for _ in range(200)]          # headers begun, never finished
    tricklers = [_connect(small.port, head + b"X-Slow: ") for _ in range(20)]
    stop = threading.Event()

    def trickle():       # a byte every 0.2 s: never silent for waitress's own inactivity timeout
        while not stop.wait(0.2):
            for s in tricklers:
                try:
                    s.send(b"a")
                except BlockingIOError:
                    pass
                except OSError:
                    continue
    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        assert _healthz_seconds(small.url) < 2.0
        status, body, secs = driver.command("help")
        assert status == 200 and b"/ft" in body and secs < 3.0          # Slack's acknowledgement limit
        assert _request_threads() == THREADS
        assert threading.active_count() <= baseline + 10, [x.name for x in threading.enumerate()]
        # both kinds are closed by the server: the silent ones by waitress, the tricklers by the request deadline
        left = _wait_closed_by_server(stalled + tricklers, READ_TIMEOUT_S + 5)
        assert not left, f"{len(left)} still open, {len(left & set(tricklers))} of them tricklers"
    finally:
        stop.set()
        t.join(2)
        for s in stalled + tricklers:
            s.close()
    assert _healthz_seconds(small.url) < 2.0


def test_many_concurrent_clients_are_all_answered_by_a_fixed_pool(small):
    baseline = threading.active_count()
    ts = str(int(time.time()))
    signed = []
    for i in range(20):
        body = urllib.parse.urlencode({"command": "/ft", "text": "help", "user_id": "UADMIN", "channel_id": "C0001",
                                       "team_id": "T0001", "trigger_id": f"t.{i}"}).encode()
        signed.append(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      b"Content-Type: application/x-www-form-urlencoded\r\nX-Slack-Request-Timestamp: " + ts.encode() +
                      b"\r\nX-Slack-Signature: " + sign(SIGNING_SECRET, ts, body).encode() +
                      b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    health = [b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"] * 180
    socks = [socket.create_connection(("127.0.0.1", small.port), timeout=5) for _ in signed + health]
    for s, raw in zip(socks, signed + health):      # all 200 requests are in before the first answer is read
        s.sendall(raw)
    answers = {s: b"" for s in socks}
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    peak, end = 0, time.monotonic() + 20
    while sel.get_map() and time.monotonic() < end:
        peak = max(peak, threading.active_count())
        for key, _ in sel.select(timeout=0.5):
            data = key.fileobj.recv(65536)
            answers[key.fileobj] += data
            if not data:
                sel.unregister(key.fileobj)
    sel.close()
    for s in socks:
        s.close()
    statuses = [a.split(b"\r\n")[0] for a in answers.values()]
    assert statuses == [b"HTTP/1.1 200 OK"] * 200
    assert all(b"/ft" in answers[s] for s in socks[:20])             # the commands' help text
    assert _request_threads() == THREADS
    assert peak <= baseline + 20


def test_oversized_header_and_body_are_refused_while_reading(small):
    # Exactly the cap, never ended: the server reads it all, so its answer is not lost to a reset.
    line = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: "
    assert _raw_status(small.port, line + b"a" * (MAX_HEADER_BYTES - len(line))) == b"431"
    post = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    assert _raw_status(small.port, post + b"Content-Length: %d\r\n\r\n" % (MAX_BODY_BYTES + 1)) == b"413"
    # chunked: refused once the bytes read pass the cap (a chunk header, then data up to one byte over it)
    chunk = b"%x\r\n" % MAX_BODY_BYTES
    assert _raw_status(small.port, post + b"Transfer-Encoding: chunked\r\n\r\n" + chunk +
                       b"{" * (MAX_BODY_BYTES + 1 - len(chunk))) == b"413"
    assert _healthz_seconds(small.url) < 2.0


def test_stop_is_prompt_and_closes_the_listener(settings):
    running = start(settings, "127.0.0.1", 0, embedded_worker=False, notifier=False)
    port = running.port
    assert running.url == f"http://127.0.0.1:{port}" and port > 0
    idle = _connect(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")    # a connection still open at stop
    t0 = time.perf_counter()
    running.stop()
    assert time.perf_counter() - t0 < 2.0
    assert not _wait_closed_by_server([idle], 2)
    idle.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_http_settings_have_production_defaults_and_are_validated():
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    s = Settings.from_env(env)
    assert (s.http_threads, s.http_connection_limit, s.http_read_timeout_s) == (16, 2000, 10)
    for key, bad in (("FTBOT_HTTP_THREADS", "0"), ("FTBOT_HTTP_CONNECTIONS", "lots"),
                     ("FTBOT_HTTP_READ_TIMEOUT_S", "2.5")):
        with pytest.raises(ConfigError, match=f"{key}='{bad}'"):
            Settings.from_env({**env, key: bad})
