"""A fake Slack Socket Mode endpoint on 127.0.0.1: the WebSocket handshake (RFC 6455), text frames out, masked
client frames in (acks, pings), so the real Bolt Socket Mode handler can be driven end to end."""
from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
import time
import uuid

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class FakeSocketMode:
    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.conn: socket.socket | None = None
        self.received: list[dict] = []          # JSON frames from the bot (acks)
        self.connected = threading.Event()
        self.lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.listener.getsockname()[1]}/link"

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        key = next(line.split(":", 1)[1].strip() for line in request.decode().split("\r\n")
                   if line.lower().startswith("sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        self.conn = conn
        self._send_frame(0x1, json.dumps({"type": "hello", "num_connections": 1}).encode())
        self.connected.set()
        self._read_loop(conn)

    def _recv_exact(self, conn, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def _read_loop(self, conn) -> None:
        try:
            while not self._stop.is_set():
                b0, b1 = self._recv_exact(conn, 2)
                opcode, length = b0 & 0x0F, b1 & 0x7F
                if length == 126:
                    length = struct.unpack(">H", self._recv_exact(conn, 2))[0]
                elif length == 127:
                    length = struct.unpack(">Q", self._recv_exact(conn, 8))[0]
                mask = self._recv_exact(conn, 4) if b1 & 0x80 else b"\0\0\0\0"
                data = bytes(c ^ mask[i % 4] for i, c in enumerate(self._recv_exact(conn, length)))
                if opcode == 0x9:                      # ping → pong
                    self._send_frame(0xA, data)
                elif opcode == 0x8:                    # close
                    return
                elif opcode == 0x1:
                    with self.lock:
                        self.received.append(json.loads(data))
        except (ConnectionError, OSError, ValueError):
            return

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        head = bytes([0x80 | opcode]) + (bytes([n]) if n < 126 else
                                         b"\x7e" + struct.pack(">H", n) if n < 65536 else b"\x7f" + struct.pack(">Q", n))
        with self.lock:
            self.conn.sendall(head + payload)

    def send_envelope(self, kind: str, payload: dict) -> str:
        """Deliver one envelope (slash_commands, events_api, interactive) and return its id."""
        envelope_id = str(uuid.uuid4())
        self._send_frame(0x1, json.dumps({"envelope_id": envelope_id, "type": kind, "payload": payload,
                                          "accepts_response_payload": kind != "events_api"}).encode())
        return envelope_id

    def ack_for(self, envelope_id: str, timeout: float = 10.0) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                got = [m for m in self.received if m.get("envelope_id") == envelope_id]
            if got:
                return got[0]
            time.sleep(0.02)
        raise AssertionError(f"no ack for envelope {envelope_id}; received {self.received}")

    def stop(self) -> None:
        self._stop.set()
        for s in (self.conn, self.listener):
            try:
                if s is not None:
                    s.close()
            except OSError:
                pass
