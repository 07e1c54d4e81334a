"""The daemon's HTTP endpoint: status, metrics, actions and the API key, over raw sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from postie.config import HttpConfig, SecretStr
from postie.daemon.http import MAX_BODY, MAX_HEAD, StatusServer
from postie.daemon.metrics import Metrics, render_metrics
from postie.errors import ConfigError, JobFailed

KEY = "k3y-Sup3r-s3cret-7f1e"
STATUS: dict[str, Any] = {"paused": False, "jobs": [{"id": 1, "name": "a"}], "uptime": 1.5}
METRICS = Metrics(
    jobs_queued=3,
    jobs_running=1,
    jobs_done_total=10,
    jobs_failed_total=2,
    bytes_posted_total=123_456,
    articles_posted_total=42,
    verify_pending_transfers=1,
    verify_failed_transfers=0,
    connections_open={"news.example": 4, "backup": 1},
    connections_max={"news.example": 8, "backup": 2},
    buffer_bytes_in_use=1024,
    buffer_bytes_capacity=4096,
    worker_slots_in_use=2,
    worker_slots_total=4,
    par2_jobs_running=1,
    uptime_seconds=12.5,
)


@dataclass
class Fakes:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def status(self) -> dict[str, Any]:
        return STATUS

    async def metrics(self) -> Metrics:
        return METRICS

    def action(self, name: str) -> Any:
        async def run(body: dict[str, Any]) -> dict[str, Any]:
            self.calls.append((name, body))
            return {"ok": True, "action": name}

        return run

    async def refuse(self, body: dict[str, Any]) -> dict[str, Any]:
        raise JobFailed("job 7 is running and cannot be removed")

    async def crash(self, body: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError(f"boom {KEY}")


def server(fakes: Fakes, *, key: str | None = KEY, **kwargs: Any) -> StatusServer:
    config = HttpConfig(port=0, api_key=None if key is None else SecretStr(key))
    actions = {name: fakes.action(name) for name in ("pause", "resume", "retry", "add")}
    actions["remove"] = fakes.refuse
    actions["crash"] = fakes.crash
    return StatusServer(
        config, status=fakes.status, metrics=fakes.metrics, actions=actions, **kwargs
    )


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    raw: bytes

    def json(self) -> Any:
        assert self.headers["content-type"].split(";")[0] == "application/json"
        return json.loads(self.body)


def parse(raw: bytes) -> Reply:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, code, _ = status_line.split(" ", 2)
    assert version == "HTTP/1.1"
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    assert int(headers["content-length"]) == len(body)
    assert headers["connection"] == "close"
    return Reply(int(code), headers, body, raw)


async def exchange(port: int, data: bytes, *, pause: float = 0.0) -> bytes:
    """Send ``data`` (``pause`` seconds before its last byte), read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if pause:
            writer.write(data[:-1])
            await writer.drain()
            await asyncio.sleep(pause)
            data = data[-1:]
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def request(
    port: int,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> Reply:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    raw = await exchange(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return parse(raw)


BEARER = {"Authorization": f"Bearer {KEY}"}


# --- GET ----------------------------------------------------------------------------------


async def test_status_is_json() -> None:
    async with server(Fakes()) as srv:
        reply = await request(srv.port, "GET", "/status")
    assert reply.status == 200
    assert reply.json() == STATUS
    assert "access-control-allow-origin" not in reply.headers


async def test_status_sorts_keys_and_stringifies() -> None:
    class Odd:
        def __str__(self) -> str:
            return "odd"

    fakes = Fakes()

    async def status() -> dict[str, Any]:
        return {"b": Odd(), "a": 1}

    srv = StatusServer(HttpConfig(port=0), status=status, metrics=fakes.metrics, actions={})
    async with srv:
        reply = await request(srv.port, "GET", "/status?verbose=1")
    assert reply.body == b'{"a": 1, "b": "odd"}'


async def test_metrics_are_prometheus_text() -> None:
    async with server(Fakes()) as srv:
        reply = await request(srv.port, "GET", "/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f for f in text_string_to_metric_families(reply.body.decode())}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert families["postie_jobs_queued"].type == "gauge"
    assert samples[("postie_jobs_queued", ())] == 3
    assert families["postie_jobs_done"].type == "counter"
    assert samples[("postie_jobs_done_total", ())] == 10
    assert samples[("postie_jobs_failed_total", ())] == 2
    assert samples[("postie_posted_bytes_total", ())] == 123_456
    assert samples[("postie_articles_posted_total", ())] == 42
    assert samples[("postie_connections_open", (("server", "news.example"),))] == 4
    assert samples[("postie_connections_open", (("server", "backup"),))] == 1
    assert samples[("postie_connections_max", (("server", "news.example"),))] == 8
    assert samples[("postie_buffer_capacity_bytes", ())] == 4096
    assert samples[("postie_worker_slots_max", ())] == 4
    assert samples[("postie_uptime_seconds", ())] == 12.5
    assert all(f.documentation for f in families.values())
    assert all(name.startswith("postie_") for name in families)


def test_metrics_name_this_instance_and_count_leases_per_holder() -> None:
    text = render_metrics(
        Metrics(instance="nas-a", leases={("nas-b", "job"): 2, ("host/1/2/x", "check"): 3})
    ).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert samples[("postie_instance_info", (("instance", "nas-a"),))] == 1
    assert samples[("postie_leases_held", (("instance", "nas-b"), ("kind", "job")))] == 2
    assert samples[("postie_leases_held", (("instance", "host/1/2/x"), ("kind", "check")))] == 3


def test_render_metrics_fresh_registry_each_time() -> None:
    first = render_metrics(Metrics(jobs_queued=1))
    second = render_metrics(Metrics(jobs_queued=2, connections_open={'we"ird\\': 1}))
    assert b"postie_jobs_queued 1.0" in first
    assert b"postie_jobs_queued 2.0" in second
    families = {f.name: f for f in text_string_to_metric_families(second.decode())}
    assert families["postie_connections_open"].samples[0].labels == {"server": 'we"ird\\'}


async def test_failing_status_is_500_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def status() -> dict[str, Any]:
        raise RuntimeError("status broke")

    srv = StatusServer(HttpConfig(port=0), status=status, metrics=Fakes().metrics, actions={})
    with caplog.at_level(logging.ERROR, logger="postie.daemon.http"):
        async with srv:
            reply = await request(srv.port, "GET", "/status")
    assert reply.status == 500
    assert reply.json() == {"error": "internal error"}
    assert "status broke" in caplog.text


# --- actions and the API key --------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": "Bearer"},
        {"X-API-Key": "wrong"},
        {"X-API-Key": KEY[:-1]},
        {"X-API-Key": ""},
    ],
)
async def test_post_without_the_key_is_401(headers: dict[str, str]) -> None:
    fakes = Fakes()
    async with server(fakes) as srv:
        reply = await request(srv.port, "POST", "/actions/pause", body=b"{}", headers=headers)
    assert reply.status == 401
    assert reply.json() == {"error": "an API key is required"}
    assert reply.headers["www-authenticate"] == "Bearer"
    assert fakes.calls == []


@pytest.mark.parametrize(
    "headers",
    [
        BEARER,
        {"Authorization": f"bearer   {KEY}"},
        {"X-API-Key": KEY},
        {"X-API-Key": "wrong", "Authorization": f"Bearer {KEY}"},
    ],
)
async def test_post_with_the_key_runs_the_action(headers: dict[str, str]) -> None:
    fakes = Fakes()
    async with server(fakes) as srv:
        reply = await request(
            srv.port, "POST", "/actions/retry", body=b'{"job": 7}', headers=headers
        )
    assert reply.status == 200
    assert reply.json() == {"action": "retry", "ok": True}
    assert fakes.calls == [("retry", {"job": 7})]


async def test_empty_body_is_an_empty_object() -> None:
    fakes = Fakes()
    async with server(fakes) as srv:
        reply = await request(srv.port, "POST", "/actions/pause", headers=BEARER)
    assert reply.status == 200
    assert fakes.calls == [("pause", {})]


async def test_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTIE_TEST_HTTP_KEY", KEY)
    fakes = Fakes()
    config = HttpConfig(port=0, api_key_env="POSTIE_TEST_HTTP_KEY")
    actions = {"pause": fakes.action("pause")}
    async with StatusServer(
        config, status=fakes.status, metrics=fakes.metrics, actions=actions
    ) as srv:
        good = await request(srv.port, "POST", "/actions/pause", headers={"X-API-Key": KEY})
        bad = await request(srv.port, "POST", "/actions/pause", headers={"X-API-Key": "x"})
    assert (good.status, bad.status) == (200, 401)


@pytest.mark.parametrize("headers", [{}, BEARER, {"X-API-Key": ""}])
async def test_no_key_configured_refuses_changes(headers: dict[str, str]) -> None:
    fakes = Fakes()
    async with server(fakes, key=None) as srv:
        reply = await request(srv.port, "POST", "/actions/pause", headers=headers)
        status = await request(srv.port, "GET", "/status")
    assert reply.status == 403
    assert reply.json() == {"error": "no api_key is configured: state-changing calls are disabled"}
    assert fakes.calls == []
    assert status.status == 200


async def test_empty_key_counts_as_no_key() -> None:
    async with server(Fakes(), key="") as srv:
        reply = await request(srv.port, "POST", "/actions/pause", headers={"X-API-Key": ""})
    assert reply.status == 403


async def test_unknown_action_is_404() -> None:
    async with server(Fakes()) as srv:
        reply = await request(srv.port, "POST", "/actions/explode", headers=BEARER)
        bare = await request(srv.port, "POST", "/actions/", headers=BEARER)
    assert reply.status == 404
    assert reply.json()["error"] == "unknown action"
    assert "pause" in reply.json()["actions"]
    assert bare.status == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "the body is not valid JSON"),
        (b"\xff\xfe", "the body is not valid JSON"),
        (b"[1, 2]", "the body must be a JSON object"),
        (b'"pause"', "the body must be a JSON object"),
        (b"null", "the body must be a JSON object"),
    ],
)
async def test_body_must_be_a_json_object(body: bytes, message: str) -> None:
    fakes = Fakes()
    async with server(fakes) as srv:
        reply = await request(srv.port, "POST", "/actions/add", body=body, headers=BEARER)
    assert reply.status == 400
    assert reply.json() == {"error": message}
    assert fakes.calls == []


async def test_postie_error_is_409_with_its_message() -> None:
    async with server(Fakes()) as srv:
        reply = await request(srv.port, "POST", "/actions/remove", body=b"{}", headers=BEARER)
    assert reply.status == 409
    assert reply.json() == {"error": "job 7 is running and cannot be removed"}


async def test_other_errors_are_500_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="postie.daemon.http"):
        async with server(Fakes()) as srv:
            reply = await request(srv.port, "POST", "/actions/crash", headers=BEARER)
    assert reply.status == 500
    assert reply.json() == {"error": "internal error"}
    assert "action crash failed" in caplog.text


# --- routing and malformed requests -------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/", {}, 404),
        ("GET", "/status/", {}, 404),
        ("GET", "/admin", {}, 404),
        ("POST", "/elsewhere", BEARER, 404),
        ("POST", "/elsewhere", {}, 401),  # the key is checked before anything is revealed
        ("GET", "/actions/pause", {}, 405),
        ("PUT", "/actions/pause", BEARER, 405),
        ("POST", "/status", BEARER, 405),
        ("DELETE", "/metrics", BEARER, 405),
        ("DELETE", "/metrics", {}, 401),
        ("OPTIONS", "/status", {}, 401),
    ],
)
async def test_routing(method: str, path: str, headers: dict[str, str], status: int) -> None:
    fakes = Fakes()
    async with server(fakes) as srv:
        reply = await request(srv.port, method, path, headers=headers)
    assert reply.status == status
    assert "error" in reply.json()
    if status == 405:
        assert reply.headers["allow"] in ("GET", "POST")
    assert fakes.calls == []


CLOSE = b"Host: 127.0.0.1\r\nConnection: close\r\n"


@pytest.mark.parametrize(
    "raw",
    [
        b"nonsense\r\n\r\n",
        b"GET status HTTP/1.1\r\n\r\n",
        b"GET /status HTTP/1.1 extra\r\n\r\n",
        b"G(T /status HTTP/1.1\r\n\r\n",
        b"GET /status HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET /status HTTP/1.1\r\nBad Name: x\r\n\r\n",
        b"GET /status HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"GET /status HTTP/1.1\r\nContent-Length: \xb2\r\n\r\n",
        b"GET /status HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET /status HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
        b"GET /status HTTP/1.1\r\nX-Filler: " + b"a" * MAX_HEAD + b"\r\n\r\n",
        b"GET /" + b"a" * MAX_HEAD + b" HTTP/1.1\r\n\r\n",
    ],
)
async def test_malformed_requests_are_400_and_closed(
    raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp's parser refuses them; postie logs one debug line, not a traceback."""
    fakes = Fakes()
    with caplog.at_level(logging.DEBUG):
        async with server(fakes) as srv:
            answer = await exchange(srv.port, raw)  # read until the server closes
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split(b" ")[1] == b"400"
    assert b"Traceback" not in rest
    assert "Traceback" not in caplog.text
    assert [r.levelno for r in caplog.records if r.name.startswith("aiohttp")] == []
    assert "http: bad request" in caplog.text
    assert fakes.calls == []


@pytest.mark.parametrize(
    "head",
    [
        f"POST /actions/add HTTP/1.1\r\nContent-Length: {MAX_BODY + 1}\r\n".encode(),
        b"POST /actions/add HTTP/1.1\r\nTransfer-Encoding: chunked\r\n",
    ],
)
async def test_a_body_over_the_limit_is_413_even_in_flight(head: bytes) -> None:
    """Announced or chunked, a body over 1 MiB is refused; the answer survives the
    unread rest of the body (no reset before the client reads it)."""
    fakes = Fakes()
    raw = head + CLOSE + f"X-API-Key: {KEY}\r\n\r\n".encode()
    if b"chunked" in head:
        chunk = b"x" * 65536
        raw += b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20))
    else:
        raw += b"x" * 200_000
    async with server(fakes) as srv:
        reply = parse(await exchange(srv.port, raw))
    assert reply.status == 413
    assert reply.json() == {"error": f"the body is over {MAX_BODY} bytes"}
    assert fakes.calls == []


async def test_a_client_that_never_finishes_its_request_is_closed() -> None:
    async with server(Fakes(), read_timeout=0.2) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        try:
            writer.write(b"GET /status HTTP/1.1\r\n")  # and never the blank line
            assert await asyncio.wait_for(reader.read(), 5) == b""
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def test_a_body_that_does_not_come_in_time_is_408() -> None:
    fakes = Fakes()
    async with server(fakes, read_timeout=0.2) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        try:
            head = b"POST /actions/add HTTP/1.1\r\nContent-Length: 10\r\n" + CLOSE
            writer.write(head + f"X-API-Key: {KEY}\r\n\r\n{{".encode())
            reply = parse(await asyncio.wait_for(reader.read(), 5))
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
    assert reply.status == 408
    assert fakes.calls == []


async def test_slow_but_in_time_client_is_served() -> None:
    async with server(Fakes(), read_timeout=2.0) as srv:
        raw = b"GET /status HTTP/1.1\r\n" + CLOSE + b"\r\n"
        reply = parse(await exchange(srv.port, raw, pause=0.1))
    assert reply.status == 200


async def test_one_connection_serves_several_requests() -> None:
    """Keep-alive: a browser or a scraper reuses its connection."""
    async with server(Fakes()) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        try:
            for _ in range(3):
                writer.write(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                assert head.startswith(b"HTTP/1.1 200")
                assert json.loads(body) == STATUS
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def test_expect_continue() -> None:
    fakes = Fakes()
    head = (
        "POST /actions/add HTTP/1.1\r\nContent-Length: 9\r\nExpect: 100-continue\r\n"
        f"Host: 127.0.0.1\r\nConnection: close\r\nX-API-Key: {KEY}\r\n\r\n"
    ).encode()
    async with server(fakes) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        try:
            writer.write(head)
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(b'{"a": 1}\n')
            reply = parse(await asyncio.wait_for(reader.read(), 5))
        finally:
            writer.close()
            await writer.wait_closed()
        # Without the key, no 100 Continue: the refusal comes before the body is sent.
        refused = parse(await exchange(srv.port, head.replace(KEY.encode(), b"nope")))
    assert reply.status == 200
    assert fakes.calls == [("add", {"a": 1})]
    assert refused.status == 401


# --- the key never leaks; lifecycle -------------------------------------------------------


async def test_the_key_never_appears_in_answers_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = [{}, BEARER, {"X-API-Key": KEY}, {"X-API-Key": KEY + "x"}]
    replies: list[Reply] = []
    with caplog.at_level(logging.DEBUG, logger="postie.daemon.http"):
        async with server(Fakes()) as srv:
            for header in headers:
                for method, path in [
                    ("GET", "/status"),
                    ("GET", "/metrics"),
                    ("POST", "/actions/pause"),
                    ("POST", "/actions/remove"),
                    ("POST", "/actions/nope"),
                    ("POST", "/nowhere"),
                    ("POST", "/status"),
                ]:
                    replies.append(await request(srv.port, method, path, headers=header))
                replies.append(
                    await request(srv.port, "POST", "/actions/add", body=b"[", headers=header)
                )
    assert {r.status for r in replies} >= {200, 400, 401, 404, 405, 409}
    assert all(KEY.encode() not in r.raw for r in replies)
    assert KEY not in caplog.text


async def test_port_and_lifecycle() -> None:
    srv = server(Fakes())
    with pytest.raises(RuntimeError):
        _ = srv.port
    async with srv:
        port = srv.port
        assert port > 0
        # A client that connected but sent nothing is closed when the server stops.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(0.05)
    try:
        assert await asyncio.wait_for(reader.read(), 2) == b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    with pytest.raises(RuntimeError):
        _ = srv.port
    with pytest.raises(ConnectionRefusedError):  # nothing listens any more
        await asyncio.open_connection("127.0.0.1", port)


async def test_port_in_use_is_a_config_error() -> None:
    async with server(Fakes()) as first:
        config = HttpConfig(port=first.port, api_key=SecretStr(KEY))
        fakes = Fakes()
        second = StatusServer(config, status=fakes.status, metrics=fakes.metrics, actions={})
        with pytest.raises(ConfigError, match=r"cannot listen on 127\.0\.0\.1"):
            async with second:
                pass


async def test_concurrent_requests() -> None:
    async with server(Fakes()) as srv:
        replies = await asyncio.gather(
            *(request(srv.port, "GET", "/status") for _ in range(20)),
            *(request(srv.port, "GET", "/metrics") for _ in range(20)),
        )
    assert all(r.status == 200 for r in replies)
