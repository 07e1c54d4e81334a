"""NZB 1.1: write from a plan's files (atomically, streamed a file at a time) and read back.

Layout (https://sabnzbd.org/wiki/extra/nzb-spec)::

    <?xml version="1.0" encoding="UTF-8"?>
    <!DOCTYPE nzb PUBLIC "-//newzBin//DTD NZB 1.1//EN" "http://www.newzbin.com/DTD/nzb/nzb-1.1.dtd">
    <nzb xmlns="http://www.newzbin.com/DTD/2003/nzb">
      <head><meta type="title">...</meta></head>
      <file poster="..." date="unix time" subject="...">
        <groups><group>alt.binaries.test</group></groups>
        <segments><segment bytes="739911" number="1">id@host</segment></segments>
      </file>
    </nzb>
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import msgspec

from postie import crashpoints
from postie.errors import InputError
from postie.fsutil import atomic_write

NAMESPACE = "http://www.newzbin.com/DTD/2003/nzb"
DOCTYPE = (
    '<!DOCTYPE nzb PUBLIC "-//newzBin//DTD NZB 1.1//EN" '
    '"http://www.newzbin.com/DTD/nzb/nzb-1.1.dtd">'
)
META_TYPES = ("title", "password", "tag", "category")


@functools.cache
def _not_xml() -> re.Pattern[str]:
    """What XML 1.0 forbids, named directly: the complement of its Char production (tab,
    LF, CR, U+0020-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF). Written as that negation,
    the class took ~57 M instructions (5-20 ms) to compile, once per run, at the NZB."""
    return re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# Escaping is written out rather than taken from xml.sax.saxutils (escape, quoteattr),
# whose output it reproduces: importing that module pulls in urllib.request, http.client
# and email (~5 ms of start-up).


def _text(value: str) -> str:
    """Element text: characters XML 1.0 forbids become U+FFFD; &, < and > become entities
    and CR a character reference (so it survives parsing)."""
    return (
        _not_xml()
        .sub("\ufffd", value)
        .replace("&", "&amp;")
        .replace(">", "&gt;")
        .replace("<", "&lt;")
        .replace("\r", "&#13;")
    )


def _attr(value: str) -> str:
    """A quoted attribute value: newline and tab as character references too (attribute
    values are whitespace-normalized by parsers); quoted with ' when the value has " and
    no ', else with " (and " as &quot; when it has both)."""
    data = _text(value).replace("\n", "&#10;").replace("\t", "&#9;")
    if '"' not in data:
        return f'"{data}"'
    if "'" not in data:
        return f"'{data}'"
    return '"' + data.replace('"', "&quot;") + '"'


# gc=False: one per article of an NZB, holding only ints and strings, so in no reference
# cycle: no GC header (16 bytes less each), never scanned by a collection.
class NzbSegment(msgspec.Struct, frozen=True, gc=False):
    """A ``<segment>``: one article of a file."""

    number: int
    bytes: int
    message_id: str


# gc=False: one per file of an NZB, holding ints, strings and tuples of strings and of
# NzbSegments, so in no reference cycle: no GC header (16 bytes less each).
class NzbFile(msgspec.Struct, frozen=True, gc=False):
    """A ``<file>`` with its groups and segments."""

    poster: str
    date: int
    subject: str
    groups: tuple[str, ...]
    segments: tuple[NzbSegment, ...]


class Nzb(msgspec.Struct, frozen=True):
    """A whole NZB: its files, and its ``<head>`` meta as (type, value) pairs."""

    files: tuple[NzbFile, ...]
    meta: tuple[tuple[str, str], ...] = ()


def lines(files: Iterable[NzbFile], meta: Mapping[str, str | None] | None = None) -> Iterator[str]:
    """The NZB's lines (without their newlines), one ``<file>`` at a time: ``files`` may be
    a generator, so a folder of 100,000 files is never whole in memory."""
    yield '<?xml version="1.0" encoding="UTF-8"?>'
    yield DOCTYPE
    yield f'<nzb xmlns="{NAMESPACE}">'
    metas = [(k, v) for k, v in (meta or {}).items() if v]
    if metas:
        yield " <head>"
        for kind, value in metas:
            yield f"  <meta type={_attr(kind)}>{_text(value)}</meta>"
        yield " </head>"
    for f in files:
        yield f' <file poster={_attr(f.poster)} date="{f.date}" subject={_attr(f.subject)}>'
        yield "  <groups>"
        yield from (f"   <group>{_text(g)}</group>" for g in f.groups)
        yield "  </groups>"
        yield "  <segments>"
        yield from (
            f'   <segment bytes="{s.bytes}" number="{s.number}">{_text(s.message_id)}</segment>'
            for s in f.segments
        )
        yield "  </segments>"
        yield " </file>"
    yield "</nzb>"


def render(files: Iterable[NzbFile], meta: Mapping[str, str | None] | None = None) -> str:
    return "\n".join(lines(files, meta)) + "\n"


def _pieces(text: Iterable[str], size: int = 1 << 16) -> Iterator[bytes]:
    """``text`` as UTF-8, each line and its newline, in pieces of about ``size`` bytes."""
    batch: list[str] = []
    held = 0
    for line in text:
        batch.append(line)
        held += len(line) + 1
        if held >= size:
            batch.append("")
            yield "\n".join(batch).encode("utf-8")
            batch, held = [], 0
    if batch:
        batch.append("")
        yield "\n".join(batch).encode("utf-8")


def write(
    path: Path, files: Iterable[NzbFile], meta: Mapping[str, str | None] | None = None
) -> None:
    """Write the NZB atomically (see :func:`postie.fsutil.atomic_write`), in pieces as
    ``files`` yields them."""
    atomic_write(
        path,
        _pieces(lines(files, meta)),
        before_rename=functools.partial(crashpoints.reached, "nzb"),
    )


def parse(data: bytes | str, source: str = "NZB") -> Nzb:
    """Parse NZB text (namespace optional, as some writers omit it)."""
    import xml.etree.ElementTree as ET  # only reading needs it (~3 ms of start-up)

    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise InputError(f"{source} is not valid XML: {exc}") from None
    if _local(root.tag) != "nzb":
        raise InputError(f"{source} is not an NZB (root element {root.tag!r})")
    meta: list[tuple[str, str]] = []
    files: list[NzbFile] = []
    for child in root:
        tag = _local(child.tag)
        if tag == "head":
            for m in child:
                if _local(m.tag) == "meta":
                    meta.append((m.get("type", ""), m.text or ""))
        elif tag == "file":
            groups: list[str] = []
            segments: list[NzbSegment] = []
            for part in child:
                ptag = _local(part.tag)
                if ptag == "groups":
                    groups.extend((g.text or "").strip() for g in part)
                elif ptag == "segments":
                    for s in part:
                        try:
                            segments.append(
                                NzbSegment(
                                    int(s.get("number", "0")),
                                    int(s.get("bytes", "0")),
                                    (s.text or "").strip(),
                                )
                            )
                        except ValueError:
                            raise InputError(f"{source}: bad segment attributes") from None
            try:
                date = int(child.get("date", "0") or 0)
            except ValueError:
                raise InputError(f"{source}: bad file date {child.get('date')!r}") from None
            files.append(
                NzbFile(
                    poster=child.get("poster", ""),
                    date=date,
                    subject=child.get("subject", ""),
                    groups=tuple(groups),
                    segments=tuple(sorted(segments, key=lambda s: s.number)),
                )
            )
    return Nzb(tuple(files), tuple(meta))


def read(path: Path) -> Nzb:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read NZB {path}: {exc.strerror or exc}") from None
    return parse(data, str(path))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
