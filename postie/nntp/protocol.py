"""The NNTP client protocol without IO (RFC 3977, RFC 4643).

Bytes go in through :meth:`ReplyParser.feed`, replies come out; commands and
article framing are built by pure functions that return the bytes to send. No
asyncio here, so the whole module can be tested and fuzzed on scripted bytes.

Replies are classified by what the caller does next (:class:`Action`): carry
on, retry, authenticate and retry, or give up. The classification of a POST
outcome needs the reply text too, because INN reuses 441 for several reasons
(``441 435 Duplicate``, ``441 Article is bigger than local limit``,
``441 No valid newsgroups``).
"""

from __future__ import annotations

import enum
import re
from typing import NamedTuple

from postie import errors

#: Reply codes whose reply carries a multi-line data block (RFC 3977 section 3.4.1).
MULTILINE_CODES = frozenset({100, 101, 215, 220, 221, 222, 224, 225, 230, 231})
MAX_COMMAND_LENGTH = 512
MAX_REPLY_LINE = 64 * 1024

TERMINATOR = b".\r\n"

_MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")


class Action(enum.Enum):
    """What the caller should do after a reply."""

    OK = "ok"
    CONTINUE = "continue"
    RETRY = "retry"
    REAUTH = "reauth"
    GIVE_UP = "give_up"


class Reply(NamedTuple):
    """One server reply: status line and, for multi-line replies, the data lines.

    A named tuple (immutable, as a frozen dataclass) because two are made per article
    posted: a frozen dataclass sets each field through ``object.__setattr__``."""

    code: int
    line: str
    lines: tuple[bytes, ...] | None = None

    @property
    def message(self) -> str:
        """The reply text after the code."""
        return self.line[4:] if len(self.line) > 3 else ""

    @property
    def action(self) -> Action:
        return classify(self.code)

    def __str__(self) -> str:
        return self.line


def classify(code: int) -> Action:
    """Classify a reply code into the caller's next step."""
    if code in (480, 381):
        return Action.REAUTH if code == 480 else Action.CONTINUE
    if 100 <= code < 300:
        return Action.OK
    if 300 <= code < 400:
        return Action.CONTINUE
    if code in (400, 403, 436, 451):
        return Action.RETRY
    if code in (481, 482, 483, 502, 440, 437, 500, 501, 503):
        return Action.GIVE_UP
    if 400 <= code < 500:
        return Action.RETRY
    return Action.GIVE_UP


class ReplyParser:
    """Incremental parser of server replies.

    Feed it whatever the socket gave; it returns every complete reply. Multi-line
    data blocks are un-dot-stuffed.
    """

    __slots__ = ("_block", "_buffer", "_status")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._status: tuple[int, str] | None = None
        self._block: list[bytes] = []

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def idle(self) -> bool:
        """Nothing of a reply is held: no part of a line, no data block still open."""
        return not self._buffer and self._status is None

    def feed(self, data: bytes) -> list[Reply]:
        buf = self._buffer
        if buf:
            buf += data
            data = bytes(buf)
            buf.clear()
        if b"\n" not in data:
            buf += data
            self._check_length()
            return []
        *lines, rest = data.split(b"\n")
        if rest:
            buf += rest
            self._check_length()
        replies: list[Reply] = []
        for raw in lines:
            if raw[-1:] == b"\r":
                raw = raw[:-1]
            if self._status is None:  # a status line: the one-line reply inline
                head = raw[:3]
                if len(head) == 3 and head.isdigit() and raw[3:4] in (b"", b" "):
                    code = int(head)
                    if code not in MULTILINE_CODES:
                        replies.append(Reply(code, raw.decode("utf-8", "replace")))
                        continue
            reply = self._line(raw)
            if reply is not None:
                replies.append(reply)
        return replies

    def _check_length(self) -> None:
        if self._status is None and len(self._buffer) > MAX_REPLY_LINE:
            raise errors.ProtocolError(f"reply line longer than {MAX_REPLY_LINE} bytes")

    def _line(self, raw: bytes) -> Reply | None:
        if self._status is not None:
            if raw == b".":
                code, line = self._status
                block = tuple(self._block)
                self._status = None
                self._block = []
                return Reply(code, line, block)
            self._block.append(raw[1:] if raw.startswith(b"..") else raw)
            return None
        head = raw[:3]
        if len(head) < 3 or not head.isdigit() or raw[3:4] not in (b"", b" "):
            shown = raw[:200].decode("utf-8", "replace")
            raise errors.ProtocolError(f"not an NNTP reply: {shown!r}", reply=shown)
        code = int(head)
        line = raw.decode("utf-8", "replace")
        if code in MULTILINE_CODES:
            self._status = (code, line)
            return None
        return Reply(code, line)


def encode_command(verb: str, *args: str) -> bytes:
    """Return the bytes of one command line; refuse CR, LF and over-long lines."""
    text = " ".join((verb, *args)) if args else verb
    if "\r" in text or "\n" in text or "\0" in text:
        raise errors.UsageError(f"NNTP command contains a line break: {verb!r}")
    data = text.encode("utf-8") + b"\r\n"
    if len(data) > MAX_COMMAND_LENGTH:
        raise errors.UsageError(f"NNTP command longer than {MAX_COMMAND_LENGTH} bytes: {verb}")
    return data


def dot_stuff(data: bytes) -> bytes:
    """Double every leading dot of a CRLF-separated text (RFC 3977 section 3.1.1)."""
    stuffed = data.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed


def dot_unstuff(data: bytes) -> bytes:
    """Undo :func:`dot_stuff`."""
    if data.startswith(b".."):
        data = data[1:]
    return data.replace(b"\r\n..", b"\r\n.")


def message_id_in(text: str) -> str | None:
    """The first ``<id@host>`` in a reply line, or None."""
    match = _MESSAGE_ID.search(text)
    return match.group(0) if match else None


class PostOutcome(enum.Enum):
    """What a reply to the article of a POST means."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    TOO_LARGE = "too_large"
    GROUP_REFUSED = "group_refused"
    NOT_PERMITTED = "not_permitted"
    REAUTH = "reauth"
    RETRY = "retry"
    REJECTED = "rejected"


_TOO_LARGE = re.compile(r"too (big|large|long)|bigger than|size limit|exceeds", re.I)
_GROUPS = re.compile(r"newsgroup|no such group|group.*(unknown|not exist|invalid)", re.I)
_DUPLICATE = re.compile(r"\b435\b|duplicate|already (have|exists?)|\b437 duplicate", re.I)


def post_outcome(reply: Reply) -> PostOutcome:
    """Classify the reply that follows the article of a POST (240/441/...)."""
    if reply.code == 240:
        return PostOutcome.ACCEPTED
    if reply.code == 480:
        return PostOutcome.REAUTH
    if reply.code == 440:
        return PostOutcome.NOT_PERMITTED
    if reply.code in (441, 437, 435):
        text = reply.message
        if reply.code == 435 or _DUPLICATE.search(text):
            return PostOutcome.DUPLICATE
        if _TOO_LARGE.search(text):
            return PostOutcome.TOO_LARGE
        if _GROUPS.search(text):
            return PostOutcome.GROUP_REFUSED
        return PostOutcome.RETRY
    if classify(reply.code) is Action.RETRY:
        return PostOutcome.RETRY
    return PostOutcome.REJECTED


def error_for(reply: Reply, context: str) -> errors.NNTPError:
    """Map a failing reply to the exception that says what the caller does next."""
    message = f"{context}: {reply.line}"
    if reply.code == 480:
        return errors.AuthenticationRequired(message, reply=reply.line)
    if reply.code in (481, 482):
        return errors.AuthenticationFailed(message, reply=reply.line)
    if reply.code == 440:
        return errors.PostingNotPermitted(message, reply=reply.line)
    if reply.code == 502:
        return errors.GiveUp(message + " (no permission)", reply=reply.line)
    action = classify(reply.code)
    if action is Action.RETRY:
        return errors.ServerBusy(message, reply=reply.line)
    return errors.GiveUp(message, reply=reply.line)
