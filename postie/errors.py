"""One exception root, subclassed by what the caller does next.

- ``RetryableError``: try the same thing again (maybe on another connection).
- ``AuthenticationRequired``: authenticate, then try again.
- ``FileFailed``: give up on this file; the rest of the job goes on.
- ``JobFailed``: give up on the whole job (the server refuses us for good).
- ``ConfigError`` / ``UsageError``: the user must change what they asked for.
- ``StoreError`` / ``ManifestError``: durable state cannot be used; nothing is
  posted that is not recorded, and nothing recorded is thrown away.

Errors that come from a server carry its reply line (``reply``), so the user
sees exactly what the server said.
"""

from __future__ import annotations


class PostieError(Exception):
    """Base of every error postie raises on purpose."""

    def __init__(self, message: str | None = None, *, reply: str | None = None) -> None:
        self.reply = reply
        text = message or (self.__doc__ or type(self).__name__).strip().splitlines()[0]
        super().__init__(text)


class ConfigError(PostieError):
    """The configuration is invalid."""


class UsageError(PostieError):
    """The command line asks for something that cannot be done."""


class InputError(PostieError):
    """A path given to post cannot be used."""


# --- NNTP ---------------------------------------------------------------------------------


class NNTPError(PostieError):
    """The NNTP exchange failed."""


class RetryableError(NNTPError):
    """A transient failure: the same request may succeed if tried again."""


class ConnectionLost(RetryableError):
    """The connection closed or broke while we were using it."""


class NNTPTimeout(RetryableError):
    """The server did not answer in time."""


class ConnectFailed(RetryableError):
    """Could not open a connection to the server; another attempt may succeed."""


class ServerBusy(RetryableError):
    """The server answered with a temporary failure (4xx other than the known ones)."""


class AuthenticationRequired(NNTPError):
    """The server asks us to authenticate (480) before it goes on."""


class ProtocolError(NNTPError):
    """The server sent something that is not NNTP."""


class GiveUp(NNTPError):
    """The server refuses this request for good; retrying will not help."""


class AuthenticationFailed(GiveUp):
    """The server rejected the username or password."""


class PostingNotPermitted(GiveUp):
    """The server does not allow posting on this connection."""


class ServerUnreachable(GiveUp):
    """The server cannot be reached as configured; retrying will not help.

    The name does not resolve, TLS does not match the port, the certificate is refused,
    or the connection kept failing through every retry."""


class ServerNotAnswering(ServerUnreachable):
    """Nothing answers NNTP at the server's address: the connection is refused, or not
    made in time, or the server never greets.

    From a server never reached before, that is a wrong host, port or TLS setting. A
    server that answered before is restarting or overloaded: the pool retries it."""


# --- jobs -----------------------------------------------------------------------------------


class FileFailed(PostieError):
    """A file could not be posted; the rest of the job goes on."""


class SourceChanged(FileFailed):
    """A source file changed since it was planned; nothing more is posted for it."""


class SourceMissing(FileFailed):
    """A source file of an unfinished transfer is gone."""


class JobFailed(PostieError):
    """The job cannot go on."""


class Stopped(PostieError):
    """The job was stopped before it finished."""


# --- durable state --------------------------------------------------------------------------


class StoreError(PostieError):
    """The transfer store cannot be used."""


class StoreMissing(StoreError):
    """There is no transfer store where a command that only reads one was pointed."""


class StoreUnreachable(StoreError):
    """The store's server cannot be reached (not running, or the connection broke):
    what it recorded is safe there; the same command goes on once it is back."""


class StoreLocked(StoreError):
    """Another process holds the transfer store's write lock."""


class StoreTooNew(StoreError):
    """The transfer store was written by a newer postie."""


class StoreFull(StoreError):
    """The device under the transfer store is full; nothing recorded is lost."""


class TransferBusy(StoreError):
    """Another process is working on this transfer."""


class NoSpace(PostieError):
    """A device postie writes to (the PAR2 work folder, ...) is full: nothing recorded is
    lost; the same command finishes once there is room."""


class NzbNotWritten(PostieError):
    """Every article is posted, but the NZB could not be written (its folder is read-only
    or full): the same command, or ``postie resume ID -o FOLDER``, writes it."""


class ManifestError(PostieError):
    """A manifest cannot be written or read; nothing that depends on it is posted."""


class PlanLost(ManifestError):
    """A manifest's frame 0 (the plan: every file and, in version 2, every Message-ID) is
    damaged: nothing of it can be salvaged."""
