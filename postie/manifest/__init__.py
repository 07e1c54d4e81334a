"""Manifests: what every article of a transfer is, durable before it is posted.

One manifest per transfer, a sequence of zstd frames holding JSON Lines. Version 2,
written for every new transfer:

- frame 0, written when the transfer is created (temp file, fsync, rename,
  directory fsync; several zstd frames for a large plan, streamed into the temp
  file): a versioned header with what all articles share (groups, poster, date,
  article size, subject template, obfuscation), one record per file (path, name,
  size, mtime, inode, ctime, number of parts), and one *planned* line per article
  (file, part, offset, length, Message-ID, and under obfuscation its subject, From
  and yEnc name). Every Message-ID is durable before anything is posted.
- then frames appended while posting, by the writer's own thread, that no article
  waits for: *CRC lines* (file, part, CRC32, article bytes), written in group commits
  and durable before the store's watermark moves past them (a checkpoint syncs the
  writer first); and *frontier lines* (every ~1,000 articles): no article at or past
  the last durable frontier's position in the plan was ever posted. Only crossing a
  frontier waits for a frame, so a resume STATs at most ~1,000 articles beyond the
  store's watermarks.

Version 1 (read, and appended to when a transfer begun with it is resumed): frame 0 is
the header and the files; each later frame holds whole article lines (identity and
CRC32) and is ``fdatasync``-ed before any of its articles is posted.

A frame torn by a crash holds no line anything relied on; the store records how many
bytes were durable at each checkpoint, so a torn tail past that point is cut off on
resume while damage before it (or anywhere in frame 0) is reported as a corrupt
manifest.

Where a transfer's manifest is kept, a file or rows of the PostgreSQL store's database,
is the store's choice (``Store.manifests``; ``postie.manifest.storage`` and
``postie.manifest.database``): the same frames either way.
"""

from postie.manifest.reader import ManifestReader, read
from postie.manifest.records import (
    VERSION,
    VERSIONS,
    ArticleRecord,
    CrcRecord,
    FileRecord,
    Frontier,
    Manifest,
    PlannedRecord,
    first_positions,
)
from postie.manifest.writer import ManifestWriter, create, reopen

__all__ = [
    "VERSION",
    "VERSIONS",
    "ArticleRecord",
    "CrcRecord",
    "FileRecord",
    "Frontier",
    "Manifest",
    "ManifestReader",
    "ManifestWriter",
    "PlannedRecord",
    "create",
    "first_positions",
    "read",
    "reopen",
]
