"""One client connection of a :class:`~postie.testing.FaultyNNTPServer`: the commands
it answers, and the faults applied to a ``POST`` in the order :mod:`postie.testing` gives."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from postie.testing.wire import (
    BufferedReader,
    parse_headers,
    split_article,
    stuff,
    unstuff,
    valid_message_id,
)

if TYPE_CHECKING:
    from postie.testing.server import FaultyNNTPServer

_AUTH_COMMANDS = frozenset({"POST", "STAT", "ARTICLE", "BODY", "HEAD"})
_RETRIEVAL = {"ARTICLE": 220, "HEAD": 221, "BODY": 222, "STAT": 223}


class Session:
    """The state of one client connection."""

    def __init__(
        self,
        server: FaultyNNTPServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.server = server
        self.reader = BufferedReader(reader, loop)
        self.writer = writer
        self.loop = loop
        self.authenticated = False
        self.pending_user: str | None = None
        self.commands_since_auth = 0
        self.reader_mode = not server.transit_mode

    async def send(self, *lines: str, data: bytes = b"", arrival: float | None = None) -> None:
        """Send reply lines (and an optional raw block), honouring ``reply_delay``."""
        delay = self.server.faults.reply_delay
        if delay > 0:
            since = self.reader.arrival if arrival is None else arrival
            wait = since + delay - self.loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        payload = "".join(line + "\r\n" for line in lines).encode("utf-8", "surrogateescape")
        self.writer.write(payload + data)
        await self.writer.drain()

    async def run(self) -> None:
        server = self.server
        if server.transit_mode:
            greeting = "200 postie-testing ready (transit mode)"
        elif server.posting_allowed:
            greeting = "200 postie-testing ready (posting ok)"
        else:
            greeting = "201 postie-testing ready (no posting)"
        await self.send(server.greeting or greeting, arrival=self.loop.time())
        while True:
            raw = await self.reader.readline()
            line = raw.decode("utf-8", "surrogateescape")
            words = line.split()
            verb = words[0].upper() if words else ""
            args = words[1:]
            if verb == "AUTHINFO" and len(args) >= 2 and args[0].upper() == "PASS":
                server.commands.append(f"{words[0]} {args[0]} ****")
            else:
                server.commands.append(line)
            if not verb:
                await self.send("501 Syntax error")
                continue
            if await self.auth_expired(verb):
                continue
            if verb == "QUIT":
                await self.send("205 Bye")
                return
            if verb in _AUTH_COMMANDS and server.requires_auth and not self.authenticated:
                await self.send("480 Authentication required")
                continue
            if verb == "POST":
                if not await self.post(args):
                    return
            elif verb in _RETRIEVAL:
                await self.retrieve(verb, args)
            elif verb == "AUTHINFO":
                await self.authinfo(args)
            elif verb == "MODE":
                await self.mode(args)
            elif verb == "CAPABILITIES":
                await self.capabilities()
            elif verb == "DATE":
                await self.send("111 " + datetime.now(UTC).strftime("%Y%m%d%H%M%S"))
            else:
                await self.send("500 Unknown command")

    async def auth_expired(self, verb: str) -> bool:
        """Apply ``auth_expire_after``; True if the command was answered with 480."""
        if not (self.server.requires_auth and self.authenticated):
            return False
        if verb in ("AUTHINFO", "QUIT"):
            return False
        limit = self.server.faults.auth_expire_after
        if limit is not None and self.commands_since_auth >= limit:
            self.authenticated = False
            self.commands_since_auth = 0
            await self.send("480 Authentication required")
            return True
        self.commands_since_auth += 1
        return False

    async def authinfo(self, args: list[str]) -> None:
        server = self.server
        sub = args[0].upper() if args else ""
        if sub not in ("USER", "PASS") or len(args) < 2:
            await self.send("501 Syntax error")
            return
        if self.authenticated:
            await self.send("502 Already authenticated")
            return
        value = " ".join(args[1:])
        if sub == "USER":
            self.pending_user = value
            await self.send("381 Password required")
            return
        if self.pending_user is None:
            await self.send("482 Authentication commands issued out of sequence")
            return
        user, self.pending_user = self.pending_user, None
        if not server.requires_auth or (user == server.username and value == server.password):
            self.authenticated = True
            self.commands_since_auth = 0
            await self.send("281 Authentication accepted")
        else:
            await self.send("481 Authentication failed")

    async def mode(self, args: list[str]) -> None:
        if [a.upper() for a in args] != ["READER"]:
            await self.send("501 Syntax error")
            return
        self.reader_mode = True
        if self.server.posting_allowed:
            await self.send("200 Posting allowed")
        else:
            await self.send("201 Posting prohibited")

    async def capabilities(self) -> None:
        server = self.server
        lines = ["101 Capability list:", "VERSION 2", "IMPLEMENTATION postie-testing"]
        if self.reader_mode:
            lines.append("READER")
            if server.posting_allowed:
                lines.append("POST")
        else:
            lines.append("MODE-READER")
        if server.requires_auth and not self.authenticated:
            lines.append("AUTHINFO USER")
        lines.append(".")
        await self.send(*lines)

    async def retrieve(self, verb: str, args: list[str]) -> None:
        if not args or not args[0].startswith("<"):
            if not args or args[0].isdigit():
                await self.send("412 No newsgroup selected")
            else:
                await self.send("501 Syntax error")
            return
        mid = args[0]
        if verb == "STAT" and self.server._take("stat_errors"):
            await self.send("403 Internal fault")
            return
        article = self.server.articles.get(mid)
        if article is None:
            await self.send("430 No such article")
            return
        status = f"{_RETRIEVAL[verb]} 0 {mid}"
        if verb == "STAT":
            await self.send(status)
            return
        head, body = split_article(article)
        block = {"ARTICLE": article, "HEAD": head, "BODY": body}[verb]
        await self.send(status, data=stuff(block) + b".\r\n")

    async def post(self, args: list[str]) -> bool:
        """Handle ``POST``; False if the connection has to be closed afterwards."""
        server = self.server
        if args:
            await self.send("501 Syntax error")
            return True
        if not self.reader_mode:
            await self.send("500 Unknown command (transit mode; send MODE READER first)")
            return True
        if not server.posting_allowed:
            await self.send("440 Posting not permitted")
            return True
        drop = server._take("drop_after_340")
        await self.send("340 Ok")
        article = unstuff(await self.reader.read_block())
        server.posts += 1
        head, _ = split_article(article)
        headers = parse_headers(head)
        mid = headers.get("message-id", "")
        if mid:
            server.post_attempts[mid] += 1
        if drop:
            self.writer.transport.abort()
            return False
        faults = server.faults
        if not mid:
            await self.send("441 No Message-ID")
        elif not valid_message_id(mid):
            await self.send(f"441 Bad Message-ID {mid}")
        elif "newsgroups" not in headers:
            await self.send("441 No Newsgroups header")
        elif faults.max_article_size is not None and len(article) > faults.max_article_size:
            await self.send("441 Article is bigger than local limit")
        elif faults.allowed_groups is not None and not (
            {g.strip() for g in headers["newsgroups"].split(",")} & faults.allowed_groups
        ):
            await self.send(f"441 No valid newsgroups in {headers['newsgroups']}")
        elif mid in server.articles:
            server.duplicates[mid] += 1
            await self.send("441 435 Duplicate")
        elif server._take("stall_posts"):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(faults.stall_seconds):
                    await self.reader.discard_until_eof()
            return False
        elif server._take("reject_441"):
            await self.send("441 Posting failed")
        elif mid in server.doomed or server._take("lose_for_good"):
            server.doomed.add(mid)
            server.lost[mid] += 1
            server.lost_articles[mid] = article
            server.accepted[mid] += 1
            await self.send(f"240 Article received {mid}")
        elif server._take("lose_articles"):
            server.lost[mid] += 1
            server.lost_articles[mid] = article
            server.accepted[mid] += 1
            await self.send(f"240 Article received {mid}")
        elif server._take("rewrite_ids"):
            new = f"<rewritten.{len(server.articles)}.{mid[1:-1]}>"
            server.articles[new] = article
            server.accepted[new] += 1
            await self.send(f"240 Article received {new}")
        else:
            server.articles[mid] = article
            server.accepted[mid] += 1
            if server._take("drop_after_article"):
                self.writer.transport.abort()
                return False
            await self.send(f"240 Article received {mid}")
        return True
