"""The daemon's HTTP endpoint: JSON status, Prometheus metrics, and a few actions.

Served by aiohttp (``aiohttp.web``), imported by the daemon only. It listens on
``127.0.0.1`` unless the configuration says otherwise.

Endpoints
---------
``GET /status``
    ``200 application/json``: whatever the daemon's ``status()`` callable returns
    (keys sorted; values JSON cannot represent are written with ``str``).
``GET /metrics``
    ``200 text/plain; version=0.0.4``: the Prometheus text of a
    :class:`~postie.daemon.metrics.Metrics` snapshot (the families are listed there).
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
else ``401``, before anything else about the request is looked at (so an unknown path
says nothing without the key); a client that sends ``Expect: 100-continue`` is refused
before it sends its body. With no key configured, state-changing calls are refused
outright (``403``): the endpoint is never open by default. The key is never logged or
echoed. There are no CORS headers, so browsers cannot send the key cross-site.

Errors postie answers are JSON ``{"error": "..."}``: unknown path ``404``, wrong method
``405`` (with ``Allow``), a body over 1 MiB ``413``, a body not received within
``read_timeout`` ``408``. A request aiohttp cannot parse (a request line or a header
over 16 KiB, a malformed line) gets aiohttp's own ``400``. A connection that has not
sent a whole request line and headers within ``read_timeout`` is closed.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from types import TracebackType
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from postie.config import HttpConfig
from postie.daemon.metrics import METRICS_CONTENT_TYPE, Metrics, render_metrics
from postie.errors import ConfigError, PostieError

__all__ = ["MAX_BODY", "MAX_HEAD", "Action", "StatusServer"]

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024
"""Longest request line, and longest header line, accepted, in bytes."""
MAX_BODY = 1024 * 1024
"""Largest request body accepted, in bytes."""
READ_TIMEOUT = 10.0
"""Seconds a client has to send its request line and headers, and then its body."""
LINGER = 1.0
"""Seconds to go on reading a body no one will use before closing (a close with unread
input makes the kernel send a reset, which can destroy the answer before it is read)."""
SHUTDOWN_TIMEOUT = 2.0
"""Seconds a request being served gets to finish when the server stops."""

Action = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
"""A state-changing call: takes the request's JSON object, returns a JSON object."""

_NO_KEY = "no api_key is configured: state-changing calls are disabled"
_KEY_REQUIRED = "an API key is required"


def _json(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    body = json.dumps(payload, sort_keys=True, default=str)
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return _json(status, {"error": message}, headers)


def _presented_keys(request: web.BaseRequest) -> list[bytes]:
    """The API keys a request carries (raw bytes), from either header form."""
    keys = [v.encode("utf-8", "surrogateescape") for v in request.headers.getall("X-API-Key", [])]
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        keys.append(credentials.strip().encode("utf-8", "surrogateescape"))
    return keys


class _BadRequests(logging.Filter):
    """aiohttp logs a request its parser refuses with a traceback, at ERROR: a client's
    mistake, not the daemon's. Those become one debug line; the rest pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            first = exc.message.strip().splitlines()[0] if exc.message.strip() else ""
            log.debug("http: bad request: %s", first.rstrip(":") or exc.code)
            return False
        return True


_server_log = logging.getLogger("postie.daemon.http.server")
_server_log.addFilter(_BadRequests())


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"


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
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The port listened on (the one picked by the system when configured as 0)."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("the status server is not running")
        port: int = self._runner.addresses[0][1]
        return port

    def _app(self) -> web.Application:
        app = web.Application(
            client_max_size=MAX_BODY, middlewares=[self._json_errors, self._guard]
        )
        app.on_response_prepare.append(_headers)
        app.router.add_get("/status", self._get_status, allow_head=False)
        app.router.add_get("/metrics", self._get_metrics, allow_head=False)
        app.router.add_post("/actions/{name}", self._post_action, expect_handler=self._expect)
        return app

    async def __aenter__(self) -> StatusServer:
        host, port = self._config.host, self._config.port
        runner = web.AppRunner(
            self._app(),
            access_log=None,
            logger=_server_log,
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
            keepalive_timeout=self._read_timeout,
            max_line_size=MAX_HEAD,
            max_field_size=MAX_HEAD,
            lingering_time=LINGER,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(f"http: cannot listen on {host}:{port}: {exc.strerror}") from exc
        self._runner = runner
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
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # --- before the handlers ----------------------------------------------------------------

    def _refusal(self, request: web.BaseRequest) -> web.Response | None:
        """None when the request may go on; else the refusal. GET needs no key."""
        if request.method == "GET":
            return None
        key = self._config.key()
        if not key:
            return _error(HTTPStatus.FORBIDDEN, _NO_KEY)
        expected = key.encode("utf-8")
        # Every presented key is compared, so timing does not tell which header matched.
        matches = [hmac.compare_digest(given, expected) for given in _presented_keys(request)]
        if any(matches):
            return None
        return _error(HTTPStatus.UNAUTHORIZED, _KEY_REQUIRED, {"WWW-Authenticate": "Bearer"})

    async def _expect(self, request: web.Request) -> web.StreamResponse | None:
        """``Expect: 100-continue``: refuse before the body is sent, else invite it."""
        refusal = self._refusal(request)
        if refusal is not None:
            log.warning("http: refused %s %r: %s", request.method, request.path, refusal.reason)
            refusal.force_close()  # the body may follow anyway: not a request of its own
            return refusal
        if request.headers.get("Expect", "").lower() != "100-continue":
            return _error(HTTPStatus.EXPECTATION_FAILED, "only Expect: 100-continue is known")
        if request.version >= (1, 1):
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return None

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        refusal = self._refusal(request)
        if refusal is not None:
            log.warning("http: refused %s %r: %s", request.method, request.path, refusal.reason)
            return refusal
        return await handler(request)

    @web.middleware
    async def _json_errors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """aiohttp's 404, 405 and 413 as JSON, as every other answer."""
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = _error(exc.status, self._message(exc), self._kept_headers(exc))
        log.debug("http: %s %r -> %d", request.method, request.path, response.status)
        return response

    @staticmethod
    def _message(exc: web.HTTPException) -> str:
        if isinstance(exc, web.HTTPMethodNotAllowed):
            return f"use {', '.join(sorted(exc.allowed_methods))}"
        if isinstance(exc, web.HTTPRequestEntityTooLarge):
            return f"the body is over {MAX_BODY} bytes"
        return exc.reason.lower()

    @staticmethod
    def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
        return {name: exc.headers[name] for name in ("Allow",) if name in exc.headers}

    # --- the handlers -----------------------------------------------------------------------

    async def _get_status(self, request: web.Request) -> web.Response:
        try:
            return _json(HTTPStatus.OK, await self._status())
        except Exception:
            log.exception("http: GET /status failed")
            return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")

    async def _get_metrics(self, request: web.Request) -> web.Response:
        try:
            text = render_metrics(await self._metrics())
        except Exception:
            log.exception("http: GET /metrics failed")
            return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
        response = web.Response(status=HTTPStatus.OK, body=text)
        response.headers["Content-Type"] = METRICS_CONTENT_TYPE
        return response

    async def _post_action(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        action = self._actions.get(name)
        if action is None:
            return _json(
                HTTPStatus.NOT_FOUND, {"error": "unknown action", "actions": sorted(self._actions)}
            )
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is over {MAX_BODY} bytes")
        try:
            async with asyncio.timeout(self._read_timeout):
                body = await request.read()
        except TimeoutError:
            response = _error(HTTPStatus.REQUEST_TIMEOUT, "the body was not received in time")
            response.force_close()
            return response
        args: Any = {}
        if body.strip():
            try:
                args = json.loads(body)
            except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
                return _error(HTTPStatus.BAD_REQUEST, "the body is not valid JSON")
        if not isinstance(args, dict):
            return _error(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        try:
            return _json(HTTPStatus.OK, await action(args))
        except PostieError as exc:
            log.info("http: action %s refused: %s", name, exc)
            return _error(HTTPStatus.CONFLICT, str(exc))
        except Exception:
            log.exception("http: action %s failed", name)
            return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
