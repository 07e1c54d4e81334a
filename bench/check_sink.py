#!/usr/bin/env python3
"""Protocol check for bench/sink.c: python3 bench/check_sink.py [--sink PATH].

Starts the sink (no delay, then with -d 20) on a free port and drives it with a plain
socket client: every command, POSTs of 700 KiB articles sent in awkward pieces (the
terminator split across reads), a POST followed by a command in the same packet, an
empty article, 200 pipelined STATs, the reply delay, and QUIT; then with -r, that STAT
answers 223 only for the Message-IDs of articles received (their headers sent in pieces,
byte by byte, or in the same packet as the POST) and 430 for any other.  Exits non-zero
on the first failure.
"""

from __future__ import annotations

import argparse
import random
import socket
import subprocess
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def line(self) -> str:
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("connection closed")
            self.buf += data
        raw, self.buf = self.buf.split(b"\r\n", 1)
        return raw.decode()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def cmd(self, text: str) -> str:
        self.send(text.encode() + b"\r\n")
        return self.line()

    def close(self) -> None:
        self.sock.close()


def expect(got: str, prefix: str) -> None:
    if not got.startswith(prefix):
        raise AssertionError(f"expected {prefix!r}, got {got!r}")


def article(rng: random.Random, size: int) -> bytes:
    """A dot-stuffed article body of about `size` bytes in 128-byte lines, ending CRLF."""
    head = b"From: a <a@b>\r\nNewsgroups: alt.binaries.test\r\nSubject: x\r\n\r\n"
    alphabet = bytes(b for b in range(256) if b not in (0, 10, 13))
    lines = []
    for _ in range(size // 130):
        body = bytes(rng.choice(alphabet) for _ in range(8)) * 16
        if rng.random() < 0.05:
            body = b"." + body[1:]
        if body.startswith(b"."):
            body = b"." + body  # dot-stuffing
        lines.append(body)
    lines.append(b"..")  # a line of one dot, stuffed
    return head + b"\r\n".join(lines) + b"\r\n"


def start_sink(
    sink: Path, delay: int, remember: bool = False
) -> tuple[subprocess.Popen[bytes], int]:
    args = [str(sink)]
    if delay:
        args += ["-d", str(delay)]
    if remember:
        args.append("-r")
    proc = subprocess.Popen([*args, "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    first = proc.stdout.readline().decode()
    expect(first, "sink listening on 127.0.0.1:")
    return proc, int(first.rsplit(":", 1)[1])


def check(port: int, delay_ms: int, rng: random.Random) -> None:
    c = Client(port)
    t0 = time.monotonic()
    expect(c.line(), "200 sink ready (posting ok)")
    expect(c.cmd("MODE READER"), "200")
    c.send(b"CAPABILITIES\r\n")
    caps = [c.line() for _ in range(5)]
    expect(caps[0], "101")
    if caps[1:] != ["VERSION 2", "READER", "POST", "."]:
        raise AssertionError(f"capabilities: {caps}")
    expect(c.cmd("AUTHINFO USER me"), "381")
    expect(c.cmd("AUTHINFO PASS secret"), "281")
    expect(c.cmd("DATE"), "111 ")
    expect(c.cmd("HELP"), "500")
    expect(c.cmd("stat <abc@d>"), "223 0 <abc@d>")
    art = article(rng, 716800)
    for i in range(4):
        expect(c.cmd("POST"), "340")
        data = art + b".\r\n"
        if i == 0:
            c.send(data)
        else:
            # pieces whose ends fall inside the terminator, with pauses so that they
            # arrive as separate reads
            cut = len(data) - rng.randint(1, 5)
            c.send(data[: cut - 100000])
            time.sleep(0.02)
            c.send(data[cut - 100000 : cut])
            time.sleep(0.02)
            for b in data[cut:]:
                c.send(bytes([b]))
                time.sleep(0.005)
        expect(c.line(), "240")
    # POST data followed by the next command in the same packet
    expect(c.cmd("POST"), "340")
    c.send(art + b".\r\nSTAT <x@y>\r\n")
    expect(c.line(), "240")
    expect(c.line(), "223 0 <x@y>")
    # an empty article
    expect(c.cmd("POST"), "340")
    c.send(b".\r\n")
    expect(c.line(), "240")
    # pipelined STATs answer in order, and (with a delay) in about one delay, not 200
    t1 = time.monotonic()
    c.send(b"".join(f"STAT <{n}@p>\r\n".encode() for n in range(200)))
    for n in range(200):
        expect(c.line(), f"223 0 <{n}@p>")
    took = time.monotonic() - t1
    if delay_ms and not (delay_ms / 1000 * 0.9 <= took < delay_ms / 1000 * 3):
        raise AssertionError(f"200 pipelined STATs took {took * 1000:.1f} ms")
    # a flood of STATs sent without reading the replies: the sink stops reading while
    # its output is backed up, and every reply still comes, in order
    flood = b"".join(f"STAT <{n}@flood>\r\n".encode() for n in range(60000))
    sender = threading.Thread(target=c.send, args=(flood,))
    sender.start()
    time.sleep(0.3)
    for n in range(60000):
        expect(c.line(), f"223 0 <{n}@flood>")
    sender.join()
    # single round trip with the delay
    t2 = time.monotonic()
    expect(c.cmd("DATE"), "111")
    rtt = time.monotonic() - t2
    if delay_ms and not (delay_ms / 1000 * 0.95 <= rtt < delay_ms / 1000 + 0.01):
        raise AssertionError(f"DATE took {rtt * 1000:.1f} ms with -d {delay_ms}")
    expect(c.cmd("QUIT"), "205")
    if c.sock.recv(10) != b"":
        raise AssertionError("no close after QUIT")
    c.close()
    print(
        f"  delay {delay_ms} ms: ok (pipelined 200 STATs {took * 1000:.1f} ms, "
        f"DATE {rtt * 1000:.1f} ms, total {time.monotonic() - t0:.2f} s)"
    )


def check_remember(port: int, rng: random.Random) -> None:
    """-r: STAT answers 223 for the Message-ID of each article received, else 430."""
    c = Client(port)
    expect(c.line(), "200")
    expect(c.cmd("STAT <never@x>"), "430")
    body = article(rng, 200000)
    head, rest = body.split(b"\r\n\r\n", 1)
    posted = []
    for i in range(6):
        mid = f"<part{i}.{rng.getrandbits(64):x}@remember.test>"
        # the Message-ID first, last, lower-case, after a long header, or with no space
        name = ("Message-ID: ", "message-id:", "MESSAGE-ID:  ")[i % 3]
        extra = b"X-Long: " + b"y" * 2000 + b"\r\n" if i == 5 else b""
        if i % 2:
            art = head + b"\r\n" + extra + name.encode() + mid.encode() + b"\r\n\r\n" + rest
        else:
            art = name.encode() + mid.encode() + b"\r\n" + extra + head + b"\r\n\r\n" + rest
        data = art + b".\r\n"
        if i == 0:
            c.send(b"POST\r\n" + data)  # the article in the same packet as the POST
            expect(c.line(), "340")
        else:
            expect(c.cmd("POST"), "340")
            if i == 1:
                c.send(data)
            else:  # the headers a few bytes at a time, so they arrive over many reads
                cut = 40 * i
                for k in range(0, cut, 7):
                    c.send(data[k : min(k + 7, cut)])
                    time.sleep(0.002)
                c.send(data[cut:])
        expect(c.line(), "240")
        posted.append(mid)
    # an article with no Message-ID is taken, and remembered as nothing
    expect(c.cmd("POST"), "340")
    c.send(b"Subject: none\r\n\r\nbody\r\n.\r\n")
    expect(c.line(), "240")
    unknown = [f"<nope{n}@remember.test>" for n in range(50)]
    asked = [*posted, *unknown, posted[0]]
    c.send(b"".join(f"STAT {m}\r\n".encode() for m in asked))
    for m in asked:
        expect(c.line(), f"223 0 {m}" if m in posted else "430")
    expect(c.cmd("QUIT"), "205")
    c.close()
    print(f"  -r: ok ({len(posted)} ids remembered, {len(unknown)} unknown answered 430)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sink", type=Path, default=BENCH / ".build" / "sink")
    args = ap.parse_args()
    sink: Path = args.sink
    if not sink.exists():
        sink.parent.mkdir(parents=True, exist_ok=True)
        src = BENCH / "sink.c"
        subprocess.run(["cc", "-O2", "-o", str(sink), str(src)], check=True)
    rng = random.Random(1)
    for delay in (0, 20):
        proc, port = start_sink(sink, delay)
        try:
            check(port, delay, rng)
            # several connections at once
            clients = [Client(port) for _ in range(8)]
            for cl in clients:
                expect(cl.line(), "200")
                cl.send(b"POST\r\n")
            for cl in clients:
                expect(cl.line(), "340")
                cl.send(b"Subject: s\r\n\r\nbody\r\n.\r\nQUIT\r\n")
            for cl in clients:
                expect(cl.line(), "240")
                expect(cl.line(), "205")
                cl.close()
        finally:
            proc.terminate()
            proc.wait()
    proc, port = start_sink(sink, 0, remember=True)
    try:
        check_remember(port, rng)
    finally:
        proc.terminate()
        proc.wait()
    print("sink ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
