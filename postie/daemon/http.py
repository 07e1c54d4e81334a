"""The daemon's HTTP endpoint: JSON status, Prometheus metrics, and a few actions.

A deliberately small HTTP/1.1 server on ``asyncio.start_server`` (no web framework):
one request per connection, answered with ``Connection: close``. It listens on
``127.0.0.1`` unless the configuration says otherwise.

Endpoints
---------
``GET /status``
    ``200 application/json``: whatever the daemon's ``status()`` callable returns
    (keys sorted; values JSON cannot represent are written with ``str``).
``GET /metrics``
    ``200 text/plain; version=0.0.4``: Prometheus text exposition of a
    :class:`Metrics` snapshot. Families (per-server ones carry a ``server`` label):

    ==================================  =======  ============================
    metric                              type     from ``Metrics``
    ==================================  =======  ============================
    ``postie_jobs_queued``              gauge    ``jobs_queued``
    ``postie_jobs_running``             gauge    ``jobs_running``
    ``postie_jobs_done_total``          counter  ``jobs_done_total``
    ``postie_jobs_failed_total``        counter  ``jobs_failed_total``
    ``postie_posted_bytes_total``       counter  ``bytes_posted_total``
    ``postie_articles_posted_total``    counter  ``articles_posted_total``
    ``postie_verify_pending_transfers`` gauge    ``verify_pending_transfers``
    ``postie_verify_failed_transfers``  gauge    ``verify_failed_transfers``
    ``postie_connections_open``         gauge    ``connections_open[server]``
    ``postie_connections_max``          gauge    ``connections_max[server]``
    ``postie_buffer_in_use_bytes``      gauge    ``buffer_bytes_in_use``
    ``postie_buffer_capacity_bytes``    gauge    ``buffer_bytes_capacity``
    ``postie_worker_slots_in_use``      gauge    ``worker_slots_in_use``
    ``postie_worker_slots_max``         gauge    ``worker_slots_total``
    ``postie_par2_jobs_running``        gauge    ``par2_jobs_running``
    ``postie_uptime_seconds``           gauge    ``uptime_seconds``
    ``postie_build_info``               gauge    1, labelled with ``version``
    ==================================  =======  ============================
``POST /actions/<name>``
    Runs the daemon's action ``name`` (``pause``, ``resume``, ``retry``, ``remove``,
    ``add``, ...) with the JSON object in the body (an empty body is ``{}``) and
    answers ``200`` with its JSON result. Unknown action ``404``; a body that is not a
    JSON object ``400``; the action raised a :class:`~postie.errors.PostieError`
    ``409 {"error": "<message>"}``; anything else ``500 {"error": "internal error"}``
    (logged).

Security
--------
``GET`` needs no key. Every other request must carry the configured API key as
``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` (compared in constant time),
else ``401``. With no key configured, state-changing calls are refused outright
(``403``): the endpoint is never open by default. The key is never logged or echoed.
There are no CORS headers, so browsers cannot send the key cross-site.

Errors are JSON ``{"error": "..."}``: unknown path ``404``, wrong method ``405``,
malformed request ``400``, request line and headers over 16 KiB or a body over
1 MiB ``413``, a client too slow to send its request ``408`` (then closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric

from postie import __version__
from postie.config import HttpConfig
from postie.errors import ConfigError, PostieError

__all__ = [
    "MAX_BODY",
    "MAX_HEAD",
    "METRICS_CONTENT_TYPE",
    "Action",
    "Metrics",
    "StatusServer",
    "render_metrics",
]

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024
"""Largest request line plus headers accepted, in bytes."""
MAX_BODY = 1024 * 1024
"""Largest request body accepted, in bytes."""
MAX_CLIENTS = 64
"""Connections served at once; more are answered 503 and closed."""
READ_TIMEOUT = 10.0
"""Seconds a client has to send its whole request (and to take the answer)."""

LINGER = 1.0
"""Seconds to wait for the client to close after the answer (see ``_linger``)."""
LINGER_BYTES = 2 * MAX_BODY

JSON_CONTENT_TYPE = "application/json"
METRICS_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

Action = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
"""A state-changing call: takes the request's JSON object, returns a JSON object."""

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(r"HTTP/[0-9]\.[0-9]")
_DIGITS = re.compile(r"[0-9]{1,10}")
_ACTIONS_PREFIX = "/actions/"
_NO_KEY = "no api_key is configured: state-changing calls are disabled"
_KEY_REQUIRED = "an API key is required"


@dataclass(frozen=True)
class Metrics:
    """A snapshot of the daemon's numbers, filled in by the daemon for each scrape.

    Counters (``*_total``) only ever grow while the daemon runs; the rest are gauges.
    ``connections_open`` and ``connections_max`` are keyed by server label.
    """

    jobs_queued: int = 0
    jobs_running: int = 0
    jobs_done_total: int = 0
    jobs_failed_total: int = 0
    bytes_posted_total: int = 0
    articles_posted_total: int = 0
    verify_pending_transfers: int = 0
    verify_failed_transfers: int = 0
    connections_open: Mapping[str, int] = field(default_factory=dict)
    connections_max: Mapping[str, int] = field(default_factory=dict)
    buffer_bytes_in_use: int = 0
    buffer_bytes_capacity: int = 0
    worker_slots_in_use: int = 0
    worker_slots_total: int = 0
    par2_jobs_running: int = 0
    uptime_seconds: float = 0.0


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=float(value))


def _counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_text, value=float(value))


def _per_server(name: str, help_text: str, values: Mapping[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=["server"])
    for server in sorted(values):
        family.add_metric([server], float(values[server]))
    return family


def _families(m: Metrics) -> Iterator[Metric]:
    yield _gauge("postie_jobs_queued", "Jobs waiting in the queue.", m.jobs_queued)
    yield _gauge("postie_jobs_running", "Jobs being posted now.", m.jobs_running)
    yield _counter("postie_jobs_done_total", "Jobs finished successfully.", m.jobs_done_total)
    yield _counter("postie_jobs_failed_total", "Jobs that failed for good.", m.jobs_failed_total)
    yield _counter("postie_posted_bytes_total", "Article bytes posted.", m.bytes_posted_total)
    yield _counter("postie_articles_posted_total", "Articles posted.", m.articles_posted_total)
    yield _gauge(
        "postie_verify_pending_transfers",
        "Transfers whose articles are still to be verified.",
        m.verify_pending_transfers,
    )
    yield _gauge(
        "postie_verify_failed_transfers",
        "Transfers whose verification found missing articles.",
        m.verify_failed_transfers,
    )
    yield _per_server(
        "postie_connections_open", "NNTP connections open, per server.", m.connections_open
    )
    yield _per_server(
        "postie_connections_max", "NNTP connections allowed, per server.", m.connections_max
    )
    yield _gauge(
        "postie_buffer_in_use_bytes", "Bytes of article buffers in use.", m.buffer_bytes_in_use
    )
    yield _gauge(
        "postie_buffer_capacity_bytes",
        "Bytes of article buffers available in all.",
        m.buffer_bytes_capacity,
    )
    yield _gauge("postie_worker_slots_in_use", "Worker slots busy.", m.worker_slots_in_use)
    yield _gauge("postie_worker_slots_max", "Worker slots in all.", m.worker_slots_total)
    yield _gauge("postie_par2_jobs_running", "PAR2 jobs running now.", m.par2_jobs_running)
    yield _gauge("postie_uptime_seconds", "Seconds since the daemon started.", m.uptime_seconds)
    info = GaugeMetricFamily("postie_build_info", "The running postie version.", labels=["version"])
    info.add_metric([__version__], 1.0)
    yield info


class _Snapshot:
    """A prometheus_client collector over one :class:`Metrics` snapshot."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return _families(self._metrics)


def render_metrics(metrics: Metrics) -> bytes:
    """The Prometheus text exposition (format 0.0.4) of one snapshot."""
    registry = CollectorRegistry()
    registry.register(_Snapshot(metrics))
    return generate_latest(registry)


# --- HTTP plumbing --------------------------------------------------------------------------


class _HttpError(Exception):
    """The request cannot be served; answered with ``status`` and ``message``."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-cased names; values latin-1 decoded
    content_length: int

    @property
    def expects_continue(self) -> bool:
        return self.headers.get("expect", "").lower() == "100-continue"


@dataclass(frozen=True)
class _Response:
    status: HTTPStatus
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    headers: tuple[tuple[str, str], ...] = ()

    def encode(self) -> bytes:
        lines = [
            f"HTTP/1.1 {self.status.value} {self.status.phrase}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
            "Cache-Control: no-store",
            "X-Content-Type-Options: nosniff",
            "Connection: close",
            *(f"{name}: {value}" for name, value in self.headers),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


def _json_response(
    status: HTTPStatus, payload: Any, headers: tuple[tuple[str, str], ...] = ()
) -> _Response:
    body = json.dumps(payload, sort_keys=True, default=str).encode("utf-8")
    return _Response(status, body, JSON_CONTENT_TYPE, headers)


def _error(status: HTTPStatus, message: str, *headers: tuple[str, str]) -> _Response:
    return _json_response(status, {"error": message}, headers)


def _parse_head(head: bytes) -> _Request:
    """Parse the request line and headers (``head`` ends with the blank line)."""
    lines = head.split(b"\r\n")
    while lines and not lines[0]:  # stray CRLFs before the request line are allowed
        lines.pop(0)
    if not lines:
        raise _HttpError(HTTPStatus.BAD_REQUEST, "empty request")
    try:
        request_line = lines[0].decode("ascii")
    except UnicodeDecodeError:
        raise _HttpError(HTTPStatus.BAD_REQUEST, "malformed request line") from None
    parts = request_line.split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1].startswith("/"):
        raise _HttpError(HTTPStatus.BAD_REQUEST, "malformed request line")
    method, target, version = parts
    if not _VERSION.fullmatch(version):
        raise _HttpError(HTTPStatus.BAD_REQUEST, "malformed request line")
    if not version.startswith("HTTP/1."):
        raise _HttpError(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "only HTTP/1.x is supported")

    headers: dict[str, str] = {}
    lengths: set[str] = set()
    for raw in lines[1:]:
        if not raw:
            continue
        name, sep, value = raw.partition(b":")
        text = name.decode("latin-1")
        if not sep or not _TOKEN.fullmatch(text):
            raise _HttpError(HTTPStatus.BAD_REQUEST, "malformed header line")
        key = text.lower()
        stripped = value.strip(b" \t").decode("latin-1")
        if key == "content-length":
            lengths.add(stripped)
        headers[key] = f"{headers[key]}, {stripped}" if key in headers else stripped

    if "transfer-encoding" in headers:
        raise _HttpError(
            HTTPStatus.BAD_REQUEST, "Transfer-Encoding is not supported: send Content-Length"
        )
    length = 0
    if lengths:
        if len(lengths) > 1 or not all(_DIGITS.fullmatch(s) for s in lengths):
            raise _HttpError(HTTPStatus.BAD_REQUEST, "malformed Content-Length")
        length = int(next(iter(lengths)))
        if length > MAX_BODY:
            raise _HttpError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is over {MAX_BODY} bytes"
            )
    try:
        path = unquote(urlsplit(target).path, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise _HttpError(HTTPStatus.BAD_REQUEST, "malformed request target") from None
    return _Request(method, path, headers, length)


def _presented_keys(headers: Mapping[str, str]) -> list[bytes]:
    """The API keys a request carries (raw bytes), from either header form."""
    keys: list[bytes] = []
    if "x-api-key" in headers:
        keys.append(headers["x-api-key"].encode("latin-1"))
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        keys.append(credentials.strip().encode("latin-1"))
    return keys


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close, then discard what the client still sends, briefly.

    Closing a socket with unread input makes the kernel send a reset, which can destroy
    the answer before the client reads it (e.g. a 413 sent while a body is in flight).
    """
    if not writer.can_write_eof():
        return
    writer.write_eof()
    discarded = 0
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(LINGER):
            while discarded <= LINGER_BYTES and (chunk := await reader.read(65536)):
                discarded += len(chunk)


class StatusServer:
    """The daemon's HTTP endpoint; listens while the ``async with`` block runs.

    ``status`` and ``metrics`` are called for each ``GET /status`` and
    ``GET /metrics``; ``actions`` maps the names served at ``POST /actions/<name>``.
    The caller decides whether to run it at all (``config.enabled``).
    """

    def __init__(
        self,
        config: HttpConfig,
        *,
        status: Callable[[], Awaitable[dict[str, Any]]],
        metrics: Callable[[], Awaitable[Metrics]],
        actions: Mapping[str, Action],
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self._config = config
        self._status = status
        self._metrics = metrics
        self._actions = actions
        self._read_timeout = read_timeout
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The port listened on (the one picked by the system when configured as 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the status server is not running")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def __aenter__(self) -> StatusServer:
        host, port = self._config.host, self._config.port
        try:
            self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_HEAD)
        except OSError as exc:
            raise ConfigError(f"http: cannot listen on {host}:{port}: {exc.strerror}") from exc
        if self._config.key() is None:
            log.info("http: listening on %s:%d (no api_key: actions disabled)", host, self.port)
        else:
            log.info("http: listening on %s:%d", host, self.port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        clients = list(self._clients)
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        await server.wait_closed()

    # --- one connection ---------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        response: _Response | None
        try:
            if len(self._clients) > MAX_CLIENTS:
                response = _error(HTTPStatus.SERVICE_UNAVAILABLE, "too many connections")
            else:
                response = await self._handle(reader, writer)
            if response is not None:
                writer.write(response.encode())
                async with asyncio.timeout(self._read_timeout):
                    await writer.drain()
                await _linger(reader, writer)
        except (ConnectionError, TimeoutError):
            pass
        except Exception:
            log.exception("http: serving a request failed")
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> _Response | None:
        """The answer to the connection's request; None when the client went away."""
        try:
            async with asyncio.timeout(self._read_timeout):
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    raise _HttpError(
                        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                        f"the request line and headers are over {MAX_HEAD} bytes",
                    ) from None
                request = _parse_head(head)
                denied = self._authorize(request)
                body = b""
                if denied is None or not request.expects_continue:
                    if request.content_length and request.expects_continue:
                        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                        await writer.drain()
                    body = await reader.readexactly(request.content_length)
        except TimeoutError:
            return _error(HTTPStatus.REQUEST_TIMEOUT, "the request was not received in time")
        except asyncio.IncompleteReadError:
            return None
        except _HttpError as exc:
            log.debug("http: bad request: %s", exc.message)
            return _error(exc.status, exc.message)
        if denied is not None:
            log.warning(
                "http: refused %s %r: %s", request.method, request.path, denied.status.phrase
            )
            return denied
        response = await self._dispatch(request, body)
        log.debug("http: %s %r -> %d", request.method, request.path, response.status)
        return response

    def _authorize(self, request: _Request) -> _Response | None:
        """None when the request may go on; else the refusal."""
        if request.method == "GET":
            return None
        key = self._config.key()
        if not key:
            return _error(HTTPStatus.FORBIDDEN, _NO_KEY)
        expected = key.encode("utf-8")
        # Every presented key is compared, so timing does not tell which header matched.
        matches = [
            hmac.compare_digest(given, expected) for given in _presented_keys(request.headers)
        ]
        if any(matches):
            return None
        return _error(HTTPStatus.UNAUTHORIZED, _KEY_REQUIRED, ("WWW-Authenticate", "Bearer"))

    async def _dispatch(self, request: _Request, body: bytes) -> _Response:
        path, method = request.path, request.method
        if path in ("/status", "/metrics"):
            if method != "GET":
                return _error(HTTPStatus.METHOD_NOT_ALLOWED, "use GET", ("Allow", "GET"))
            try:
                if path == "/status":
                    return _json_response(HTTPStatus.OK, await self._status())
                text = render_metrics(await self._metrics())
                return _Response(HTTPStatus.OK, text, METRICS_CONTENT_TYPE)
            except Exception:
                log.exception("http: GET %s failed", path)
                return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
        if path.startswith(_ACTIONS_PREFIX):
            name = path.removeprefix(_ACTIONS_PREFIX)
            action = self._actions.get(name)
            if action is None:
                return _json_response(
                    HTTPStatus.NOT_FOUND,
                    {"error": "unknown action", "actions": sorted(self._actions)},
                )
            if method != "POST":
                return _error(HTTPStatus.METHOD_NOT_ALLOWED, "use POST", ("Allow", "POST"))
            return await self._run_action(name, action, body)
        return _error(HTTPStatus.NOT_FOUND, "not found")

    async def _run_action(self, name: str, action: Action, body: bytes) -> _Response:
        args: Any = {}
        if body.strip():
            try:
                args = json.loads(body)
            except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
                return _error(HTTPStatus.BAD_REQUEST, "the body is not valid JSON")
        if not isinstance(args, dict):
            return _error(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        try:
            result = await action(args)
            return _json_response(HTTPStatus.OK, result)
        except PostieError as exc:
            log.info("http: action %s refused: %s", name, exc)
            return _error(HTTPStatus.CONFLICT, str(exc))
        except Exception:
            log.exception("http: action %s failed", name)
            return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
