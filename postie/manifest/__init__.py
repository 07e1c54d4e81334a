"""Manifests: what every article of a transfer is, durable before it is posted.

One manifest per transfer, a sequence of zstd frames holding JSON Lines:

- frame 0, written when the transfer is created (temp file, fsync, rename,
  directory fsync): a versioned header with what all articles share (groups,
  poster, date, article size, subject template, obfuscation) and one record per
  file (path, name, size, mtime, number of parts);
- then frames appended while posting, one line per article (file, part,
  offset, length, Message-ID, CRC32, article bytes, and under obfuscation the
  per-article subject, From and yEnc name), each frame ``fdatasync``-ed before
  any of its articles is posted.

Why appended frames and not one file written whole before posting: the line of
an article carries its CRC32, known only once the article has been read and
encoded. Writing every line up front would mean reading every file twice before
the first post. Appending a frame per batch (group commit: while one frame is
being synced the next batch gathers) costs one ``fdatasync`` per batch and
keeps invariant 1: no article is posted before its line is durable. A frame
torn by a crash holds only articles that were never posted; the store records
how many bytes were durable at each checkpoint, so a torn tail past that point
is cut off on resume while damage before it is reported as a corrupt manifest.
"""

from postie.manifest.reader import ManifestReader, read
from postie.manifest.records import VERSION, ArticleRecord, FileRecord, Manifest
from postie.manifest.writer import ManifestWriter, create, reopen

__all__ = [
    "VERSION",
    "ArticleRecord",
    "FileRecord",
    "Manifest",
    "ManifestReader",
    "ManifestWriter",
    "create",
    "read",
    "reopen",
]
