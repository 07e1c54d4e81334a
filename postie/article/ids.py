"""Message-IDs: made once when a job is planned, and written with or without brackets.

postie keeps a Message-ID bare (``id@host``), as the NZB lists it; on the wire
(the ``Message-ID:`` header, ``STAT``, a server's ``240`` reply) it is bracketed
(``<id@host>``). :func:`bare` and :func:`bracketed` take either form.
"""

from __future__ import annotations

import secrets


def new_message_id(domain: str) -> str:
    """A random Message-ID (without angle brackets)."""
    return f"{secrets.token_hex(16)}@{domain}"


def bare(message_id: str) -> str:
    """``message_id`` without angle brackets: ``<id@host>`` and ``id@host`` give ``id@host``."""
    return message_id.removeprefix("<").removesuffix(">")


def bracketed(message_id: str) -> str:
    """``message_id`` in angle brackets: ``id@host`` and ``<id@host>`` give ``<id@host>``."""
    return message_id if message_id.startswith("<") else f"<{message_id}>"
