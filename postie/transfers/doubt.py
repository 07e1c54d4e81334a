"""What an interrupted run may have posted: the parts a resume STATs, and what becomes
of each part once the server answered (docs/design.md, "Durable transfers").

Manifest version 2 (every planned line in frame 0; CRC lines and frontiers after it):

- parts at or below a file's watermark are posted: their CRC lines are durable (the
  store's watermark never moves past a CRC line that is not), so the NZB has their sizes;
- parts above it and before the last durable frontier are in doubt and STATed. Found:
  posted; without a CRC line it is *measured* (read and encoded again for its CRC32 and
  size, and that line recorded), not posted. Missing: posted again with the same
  Message-ID; with a CRC line the part read again must match it (else the file is
  ``source_changed``);
- parts at or past the frontier were never posted: posted.

A part read with no CRC line to check it against (measured, or posted without one) is
read only from the very file frame 0 recorded: besides size and mtime (checked for every
file), the same inode and ctime. Otherwise the file is refused as ``source_changed``.

Version 1 (one line per article, durable before it was posted): parts with a line above
the watermark are in doubt; parts without one were never posted and were planned afresh.
"""

from __future__ import annotations

from postie import errors
from postie.runtime.state import FileResume
from postie.transfers.prepared import Prepared


def in_doubt(prepared: Prepared) -> list[tuple[int, int, str]]:
    """``(file, part, Message-ID)`` of every part an earlier run may have posted beyond the
    store's watermark (the ID a server rewrote it to, where it did)."""
    writer = prepared.writer
    frontier = writer.frontier if writer.version >= 2 else None
    out: list[tuple[int, int, str]] = []
    first = 0
    for file in prepared.plan.files:
        start, first = first, first + len(file.segments)
        index = file.index
        if index in prepared.lost or index in prepared.finished_before:
            continue
        mark = prepared.watermarks.get(index, 0)
        if frontier is None:
            parts = sorted(n for n in prepared.recorded.get(index, {}) if n > mark)
        else:
            parts = list(range(mark + 1, min(len(file.segments), frontier - start) + 1))
        out.extend(
            (index, n, prepared.accepted.get((index, n), file.segments[n - 1].message_id))
            for n in parts
        )
    return out


def resumes(
    prepared: Prepared, found: dict[int, set[int]]
) -> tuple[dict[int, FileResume], dict[int, errors.FileFailed]]:
    """What this run does with each file, given the parts in doubt a STAT ``found``: its
    :class:`FileResume`, or the reason it is refused (read without a CRC32 to check, from
    a file that is not the one planned)."""
    resume: dict[int, FileResume] = {}
    refused: dict[int, errors.FileFailed] = {}
    for file in prepared.plan.files:
        index = file.index
        if index in prepared.lost:
            continue
        if index in prepared.finished_before:  # also carried over to a new transfer
            resume[index] = FileResume(watermark=len(file.segments))
            continue
        if not prepared.resumed:
            continue
        mark = prepared.watermarks.get(index, 0)
        recorded = prepared.recorded.get(index, {})
        there = found.get(index, set())
        measure = frozenset(n for n in there if n not in recorded)
        blind = bool(measure) or any(
            n not in recorded and n not in there for n in range(mark + 1, len(file.segments) + 1)
        )
        if blind and index in prepared.unlike:
            refused[index] = prepared.unlike[index]
            continue
        resume[index] = FileResume(
            watermark=mark,
            done=frozenset(there) - measure,
            recorded=recorded,
            measure=measure,
        )
    return resume, refused
