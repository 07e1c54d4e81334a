"""A small NNTP server that misbehaves on purpose, for tests.

Posting to Usenet goes wrong in ways that are hard to provoke against a real server: a
connection dies right after the server said "340 send article", the server stores the article
but the "240" never makes it back, a provider answers "240" and then quietly loses the article,
authentication silently expires halfway through a long session, or a reply simply never comes.
A posting engine is only as good as its handling of exactly those cases, so this module ships a
server that can be told to do each of them, deterministically, from inside a test.

:class:`FaultyNNTPServer` speaks the part of RFC 3977 (NNTP) and RFC 4643 (AUTHINFO USER/PASS)
that a poster uses: ``CAPABILITIES``, ``MODE READER``, ``AUTHINFO``, ``POST``, ``STAT``,
``ARTICLE``/``HEAD``/``BODY``, ``DATE`` and ``QUIT``.  It runs on the caller's asyncio event loop,
uses only the standard library, keeps every article it accepted in memory and records what it
saw (commands, post attempts, acceptances, duplicates), so a test can assert on the server's
view of the conversation, not only on the client's.  It is part of the installed package on
purpose: users can point their own integration tests at it as well.

The fault model
---------------
Faults are described by a mutable :class:`Faults` instance (``server.faults``), which a test may
change at any time, even while clients are connected.  Most faults are counters meaning "the
next N posts": each time a fault fires its counter is decremented.  The counters are shared by
all connections of a server; taking one is a check-and-decrement with no ``await`` in between,
so on the single-threaded event loop two concurrent connections can never both spend the last
unit of a counter.

A ``POST`` goes through these steps, and the faults hook into them in this order:

1. ``drop_after_340`` is checked when the ``POST`` command arrives: the server answers 340,
   reads the article, and then aborts the connection without a reply and without storing it.
2. The article is read and checked: it must have a ``Message-ID`` (this server never assigns
   one) and a ``Newsgroups`` header; then ``max_article_size`` and ``allowed_groups`` apply,
   and an already-stored Message-ID gets ``441 435 Duplicate``.
3. Only an article that would otherwise be accepted takes the remaining faults:
   ``stall_posts`` (no reply ever; the server waits until the client hangs up),
   ``reject_441`` (``441 Posting failed``), ``lose_articles`` (answered 240 but never stored,
   so ``STAT`` answers 430 and a repost is accepted again) and ``drop_after_article`` (stored,
   then the connection is aborted before the 240 goes out, as if the reply were lost).

Two faults are not counters: ``auth_expire_after`` makes authentication expire after that many
commands on a connection (the next command gets ``480`` and the client has to send
``AUTHINFO`` again), and ``reply_delay`` delays every reply, simulating a link's latency: a reply
is sent no earlier than ``reply_delay`` seconds after the command it answers arrived, so
pipelined commands share one delay rather than each paying it in turn.

A script (``FaultyNNTPServer(script=[Send(...), Expect("line"), Close(), ...])``, see
:mod:`postie.testing.script`) replaces the server's side of the conversation with raw bytes,
for tests of a client against anything at all: any reply code, garbage, a reply split at every
byte or dripped slowly, a connection closed at any point.

:func:`make_tree` is a small companion helper that fills a directory with files of given sizes
and deterministic content, for tests that need something to post; :class:`ManualClock` is a
store's clock a test moves forward.
"""

from postie.testing.clock import ManualClock
from postie.testing.faults import Faults, ServerStatistics
from postie.testing.script import Close, Expect, Send, Step, Transcript
from postie.testing.server import FaultyNNTPServer
from postie.testing.tree import make_tree

__all__ = [
    "Close",
    "Expect",
    "Faults",
    "FaultyNNTPServer",
    "ManualClock",
    "Send",
    "ServerStatistics",
    "Step",
    "Transcript",
    "make_tree",
]
