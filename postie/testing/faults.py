"""What a :class:`~postie.testing.FaultyNNTPServer` is told to do wrong, and what it counted."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Faults:
    """What a :class:`FaultyNNTPServer` should do wrong; mutable while the server runs.

    The integer fields are counters for "the next N posts", decremented as the fault fires and
    shared by all connections of the server.  See :mod:`postie.testing` for the order in which
    they are applied to a ``POST``.
    """

    drop_after_340: int = 0
    """Next N ``POST`` commands: send 340, read the article, abort the connection unreplied."""
    drop_after_article: int = 0
    """Next N acceptable articles: store the article, then abort before sending 240."""
    reject_441: int = 0
    """Next N acceptable articles: answer ``441 Posting failed`` and store nothing."""
    auth_expire_after: int | None = None
    """After this many commands since the last ``AUTHINFO``, the next command gets 480."""
    stall_posts: int = 0
    """Next N acceptable articles: store nothing, never reply, wait for the client to close."""
    stall_seconds: float = 3600.0
    """Upper bound on how long a stalled post waits before the server closes the connection."""
    lose_articles: int = 0
    """Next N acceptable articles: answer 240 but do not store them (``STAT`` gives 430)."""
    lose_for_good: int = 0
    """Next N acceptable articles: answer 240 but do not store them, and lose every later post
    of the same Message-ID too (an article a provider will never keep)."""
    stat_errors: int = 0
    """Next N ``STAT`` commands: answer ``403 Internal fault`` (a server error, not a 430)."""
    rewrite_ids: int = 0
    """Next N acceptable articles: store them under a Message-ID of the server's choosing,
    named in the 240 reply (RFC 3977 allows it); the client's ID is then unknown."""
    reply_delay: float = 0.0
    """Seconds between a command's arrival and its reply (simulated latency)."""
    max_article_size: int | None = None
    """Larger articles get ``441 Article is bigger than local limit``."""
    allowed_groups: frozenset[str] | None = None
    """If set, articles posted to none of these groups get ``441 No valid newsgroups in ...``."""


@dataclass(frozen=True)
class ServerStatistics:
    """A snapshot of a :class:`FaultyNNTPServer`'s counters."""

    connections_opened: int
    connections_active: int
    max_concurrent_connections: int
    articles_stored: int
    posts: int
    """Articles fully received after a 340, whatever happened to them afterwards."""
    duplicates: int
    lost: int
