"""Message-IDs: made once when a job is planned, and written with or without brackets.

postie keeps a Message-ID bare (``id@host``), as the NZB lists it; on the wire
(the ``Message-ID:`` header, ``STAT``, a server's ``240`` reply) it is bracketed
(``<id@host>``). :func:`bare` and :func:`bracketed` take either form.

The random part of a new Message-ID is 16 bytes from the OS's CSPRNG (``os.urandom``,
as ``secrets.token_hex`` reads it), drawn ``BATCH`` IDs at a time: one ``getrandom``
per batch instead of one per article. A forked child drops the parent's unused IDs
(``os.register_at_fork``), so the two never hand out the same one.
"""

from __future__ import annotations

import os

BATCH = 256  # IDs per os.urandom call (4 KiB of randomness)
_ID_BYTES = 16

_ready: list[str] = []  # random hex parts not handed out yet; list.pop is atomic


def _drop_unused() -> None:
    _ready.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_unused)


def _random_hex() -> str:
    """32 random hex digits (what ``secrets.token_hex(16)`` gives)."""
    try:
        return _ready.pop()
    except IndexError:
        pass
    text = os.urandom(_ID_BYTES * BATCH).hex()
    step = 2 * _ID_BYTES
    _ready.extend([text[i : i + step] for i in range(step, len(text), step)])
    return text[:step]


def new_message_id(domain: str) -> str:
    """A random Message-ID (without angle brackets)."""
    return f"{_random_hex()}@{domain}"


def bare(message_id: str) -> str:
    """``message_id`` without angle brackets: ``<id@host>`` and ``id@host`` give ``id@host``."""
    return message_id.removeprefix("<").removesuffix(">")


def bracketed(message_id: str) -> str:
    """``message_id`` in angle brackets: ``id@host`` and ``<id@host>`` give ``<id@host>``."""
    return message_id if message_id.startswith("<") else f"<{message_id}>"
