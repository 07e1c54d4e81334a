"""A TCP relay between postie and a real server (INN, PostgreSQL) that a test controls,
so a test can disturb one client's connections and leave the shared server alone.

- ``held``: while set, nothing the server sends reaches the client (a poster waits
  with its job in hand, alive and holding no store lock);
- ``delay``: seconds each chunk of the server's replies waits (a slow server);
- ``cut(seconds)``: every connection through it is dropped (reset) at once, and new
  ones are reset for ``seconds``, then accepted again (a server that went away and came
  back, or a network cut).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time


class Relay:
    """``Relay(host, port)`` listens on 127.0.0.1:``relay.port``; ``close()`` ends it."""

    def __init__(self, host: str, port: int, *, delay: float = 0.0) -> None:
        self.target = (host, port)
        self.delay = delay
        self.held = threading.Event()
        self.cuts = 0  # connections dropped or refused by cuts
        self._down_until = 0.0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self, seconds: float) -> None:
        """Drop every connection now and refuse new ones for ``seconds``."""
        with self._lock:
            self._down_until = time.monotonic() + seconds
            dropped, self._open = self._open, set()
        for sock in dropped:
            _reset(sock)
        self.cuts += len(dropped)

    @property
    def down(self) -> bool:
        return time.monotonic() < self._down_until

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.down:
                self.cuts += 1
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                _reset(client)
                continue
            with self._lock:  # a cut since the look above drops it (looked at again here)
                kept = not self.down
                if kept:
                    self._open.update((client, upstream))
            if not kept:
                self.cuts += 1
                _reset(client)
                _reset(upstream)
                continue
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, replies: bool) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                while replies and self.held.is_set():
                    time.sleep(0.05)
                if replies and self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked accepting
        self.server.close()
        with self._lock:
            dropped, self._open = self._open, set()
        for sock in dropped:
            with contextlib.suppress(OSError):
                sock.close()


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a reset (RST), as a peer that went away abruptly."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked reading it
    with contextlib.suppress(OSError):
        sock.close()
