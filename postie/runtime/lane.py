"""A posting worker's hold on one connection and one WorkerSlot.

Without pipelining a worker takes a slot and a connection for each article and
gives both back at once. With pipelining (``pipelining: true`` on the server) it
keeps them from one article to the next so that it can send the next ``POST``
right behind an article's terminator: the server's ``240`` for the article and
its ``340`` for the next POST then travel together, one round trip per article
instead of two. RFC 3977 (section 3.5) lets a client pipeline commands; the
article itself is still sent only after its ``340``.

Fairness: a lane keeps its connection only while nobody else waits for a slot
(another job, a verification check) or for a connection of its pool, so jobs
sharing the Runtime still take turns (and a worker holding a slot is not left
waiting for a connection that lanes keep to themselves). Workers of the lane's
own job waiting for a slot do not count: whichever of them posts, the job goes
as fast, and giving up pipelining for them would halve its speed for nothing
(a job has one worker per connection, so it has waiting workers exactly when
someone else holds slots). A connection with a POST
outstanding (``primed``) is never handed to anyone else: it is kept for the
lane's next article or closed.
"""

from __future__ import annotations

from postie import errors
from postie.nntp.connection import NNTPConnection
from postie.nntp.pool import ConnectionPool
from postie.runtime.limits import WorkerSlots


class Lane:
    """One worker's slot and connection, held across articles when it pays."""

    __slots__ = ("_has_slot", "conn", "group", "pool", "slots")

    def __init__(self, pool: ConnectionPool, slots: WorkerSlots, group: object = None) -> None:
        self.pool = pool
        self.slots = slots
        self.group = group  # the job the lane works for
        self.conn: NNTPConnection | None = None
        self._has_slot = False

    @property
    def pipelining(self) -> bool:
        return self.pool.server.pipelining

    async def open(self) -> NNTPConnection:
        """The lane's connection, taking a slot and a connection when it has none."""
        if self.conn is not None:
            return self.conn
        if not self._has_slot:
            await self.slots.acquire(self.group)
            self._has_slot = True
        try:
            self.conn = await self.pool.acquire()
        except errors.GiveUp as exc:  # the pool retried what could pass: the job stops
            self._release_slot()
            raise errors.JobFailed(str(exc), reply=exc.reply) from exc
        except BaseException:
            self._release_slot()
            raise
        return self.conn

    def may_prime(self) -> bool:
        """True when the lane may keep its connection and send the next POST ahead:
        pipelining is on and nobody outside the lane's job waits for a slot, nor anyone
        for a connection of this pool."""
        return (
            self.pipelining
            and self.slots.waiting_except(self.group) == 0
            and self.pool.waiting == 0
        )

    def finish(self, *, reusable: bool) -> None:
        """After an exchange: keep the connection for the next article, or give it back."""
        conn = self.conn
        if conn is None:
            return
        if not reusable:
            self.conn = None
            self.pool.release(conn, reusable=False)
            self._release_slot()
        elif not conn.primed and not self.may_prime():
            self.close()

    def close(self) -> None:
        """Give back the connection (closed when a POST is outstanding) and the slot."""
        conn, self.conn = self.conn, None
        if conn is not None:
            self.pool.release(conn, reusable=not conn.primed)
        self._release_slot()

    def _release_slot(self) -> None:
        if self._has_slot:
            self._has_slot = False
            self.slots.release()
