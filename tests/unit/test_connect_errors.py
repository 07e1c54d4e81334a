"""OS, resolver and TLS errors mapped to postie's errors at the IO edge (no sockets)."""

from __future__ import annotations

import errno
import socket
import ssl

import pytest

from postie import errors
from postie.cli.common import EXIT_REFUSED, exit_code_for
from postie.nntp.settings import ServerSettings
from postie.nntp.transport import connect_error, os_reason, tls_error

SERVER = ServerSettings(host="news.example", port=563, ssl=True, connect_timeout=10)


def ssl_error(reason: str, text: str) -> ssl.SSLError:
    exc = ssl.SSLError(1, f"[SSL: {reason}] {text} (_ssl.c:1006)")
    exc.reason = reason
    return exc


@pytest.mark.parametrize(
    ("exc", "kind", "message"),
    [
        (
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            errors.ServerUnreachable,
            "cannot resolve news.example: Name or service not known",
        ),
        (
            socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
            errors.ConnectFailed,
            "cannot resolve news.example: Temporary failure in name resolution",
        ),
        (
            ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"),
            errors.ServerNotAnswering,
            "connection refused: nothing listens on news.example:563",
        ),
        (TimeoutError(), errors.ServerNotAnswering, "no connection to news.example:563 within 10s"),
        (
            OSError(errno.ENETUNREACH, "Network is unreachable"),
            errors.ConnectFailed,
            "cannot connect to news.example:563: Network is unreachable",
        ),
    ],
)
def test_connect_errors(exc: OSError, kind: type[errors.NNTPError], message: str) -> None:
    mapped = connect_error(exc, SERVER)
    assert type(mapped) is kind
    assert str(mapped) == message


def test_the_retryable_ones_are_retryable_and_the_others_give_up() -> None:
    assert isinstance(errors.ConnectFailed(), errors.RetryableError)
    assert isinstance(errors.ServerUnreachable(), errors.GiveUp)
    assert isinstance(errors.ServerNotAnswering(), errors.ServerUnreachable)


def test_certificate_rejected_names_the_flag_and_the_key() -> None:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
    exc.verify_message = "self-signed certificate"
    mapped = tls_error(exc, SERVER)
    assert type(mapped) is errors.ServerUnreachable
    assert str(mapped) == (
        "TLS certificate of news.example rejected: self-signed certificate (--insecure, or"
        " verify_cert: false in the config, skips this check: only for a server you trust)"
    )


def test_plain_server_on_the_tls_port() -> None:
    mapped = tls_error(ssl_error("WRONG_VERSION_NUMBER", "wrong version number"), SERVER)
    assert type(mapped) is errors.ServerUnreachable
    assert str(mapped) == (
        "TLS handshake with news.example:563 failed: the server did not speak TLS:"
        " is port 563 a TLS port? try without --ssl"
    )
    starttls = ServerSettings(host="news.example", port=119, starttls=True)
    mapped = tls_error(ssl_error("WRONG_VERSION_NUMBER", "wrong version number"), starttls)
    assert str(mapped).endswith("the server did not speak TLS after STARTTLS")


def test_other_tls_failures() -> None:
    mapped = tls_error(
        ssl_error("TLSV1_ALERT_PROTOCOL_VERSION", "tlsv1 alert protocol version"), SERVER
    )
    assert type(mapped) is errors.ServerUnreachable
    assert str(mapped) == "TLS handshake with news.example:563 failed: tlsv1 alert protocol version"
    closed = tls_error(ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), SERVER)
    assert type(closed) is errors.ConnectFailed
    assert (
        str(closed)
        == "TLS handshake with news.example:563 failed: the server closed the connection"
    )
    slow = tls_error(TimeoutError(), SERVER)
    assert type(slow) is errors.ServerNotAnswering
    assert str(slow) == "TLS handshake with news.example:563 failed: no answer within 10s"


def test_a_named_server_is_named_first() -> None:
    named = ServerSettings(host="news.example", port=119, label="main")
    mapped = connect_error(ConnectionRefusedError(errno.ECONNREFUSED, "refused"), named)
    assert str(mapped) == "main: connection refused: nothing listens on news.example:119"


def test_os_reason_does_not_read_openssl_or_resolver_codes_as_errnos() -> None:
    # ssl.SSLError.errno 1 is OpenSSL's SSL_ERROR_SSL, not EPERM ("Operation not permitted")
    assert os_reason(ssl_error("WRONG_VERSION_NUMBER", "wrong version number")) == (
        "wrong version number"
    )
    # gaierror.errno -2 is EAI_NONAME, not an errno ("Unknown error -2")
    assert os_reason(socket.gaierror(-2, "Name or service not known")) == (
        "Name or service not known"
    )
    assert os_reason(ConnectionResetError(errno.ECONNRESET, "x")) == "Connection reset by peer"


@pytest.mark.parametrize(
    "exc",
    [errors.ServerUnreachable(), errors.ServerNotAnswering(), errors.ConnectFailed()],
)
def test_a_server_that_cannot_be_reached_exits_3(exc: errors.PostieError) -> None:
    assert exit_code_for(exc) == EXIT_REFUSED == 3
