"""Article headers and the bytes of a whole article, ready for POST."""

from __future__ import annotations

import time

from postie.article import yenc
from postie.article.plan import FilePlan, JobPlan, Segment
from postie.config import PostingConfig

_PART = "\x00part\x00"  # stands for {part}; NUL cannot occur in a file name or template
_SUBJECTS_KEPT = 256  # files whose subject template is kept formatted
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def rfc5322_date(seconds: int) -> str:
    """An RFC 5322 date in GMT, ``Mon, 23 Nov 2026 19:20:52 GMT``: what
    ``email.utils.formatdate(seconds, usegmt=True)`` gives, without importing the email
    package for it; English names whatever the locale, as the RFC wants."""
    t = time.gmtime(seconds)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d}"
        f" {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


class ArticleBuilder:
    """Builds the headers and framing of every article of one job."""

    def __init__(self, plan: JobPlan, posting: PostingConfig) -> None:
        self.plan = plan
        self.posting = posting
        self._groups = ",".join(plan.groups)
        self._count = len(plan.files)
        self._date_second = -1
        self._date = ""
        self._head = f"From: {plan.poster}\r\nNewsgroups: {self._groups}\r\nSubject: "
        self._subjects: dict[int, str] = {}
        template = posting.subject
        # a format spec on {part} (e.g. {part:03d}) needs the real number each time
        self._part_marker = "{part:" not in template and "{part!" not in template

    def subject(self, file: FilePlan, segment: Segment) -> str:
        """The Subject header of one article (random under full obfuscation)."""
        if segment.subject is not None:
            return segment.subject
        return self.real_subject(file, segment.number)

    def real_subject(self, file: FilePlan, part: int) -> str:
        # The template is formatted once per file with a marker for {part}; per
        # article only the marker is replaced (str.format per article profiled ~3%).
        if not self._part_marker:
            return self._format_subject(file, part)
        # Only the files being read are asked for (in order), so the cache is emptied
        # when it grows: kept for every file it held ~400 bytes a file for the whole run.
        partial = self._subjects.get(file.index)
        if partial is None:
            if len(self._subjects) >= _SUBJECTS_KEPT:
                self._subjects.clear()
            partial = self._format_subject(file, _PART)
            self._subjects[file.index] = partial
        return partial.replace(_PART, str(part))

    def _format_subject(self, file: FilePlan, part: str | int) -> str:
        return self.posting.subject.format(
            index=file.index,
            count=self._count,
            name=file.name,
            part=part,
            parts=len(file.segments),
            size=file.size,
        )

    def nzb_subject(self, file: FilePlan) -> str:
        """The subject the NZB gives the file: always the real name."""
        return self.real_subject(file, 1)

    def _date_header(self) -> str:
        now = int(time.time())
        if now != self._date_second:
            self._date_second = now
            self._date = rfc5322_date(now)
        return self._date

    def headers(self, file: FilePlan, segment: Segment) -> bytes:
        if segment.poster is None:
            head = self._head
        else:
            head = f"From: {segment.poster}\r\nNewsgroups: {self._groups}\r\nSubject: "
        text = (
            f"{head}{self.subject(file, segment)}\r\n"
            f"Message-ID: <{segment.message_id}>\r\n"
            f"Date: {self._date_header()}\r\n\r\n"
        )
        return text.encode("utf-8")

    def article(
        self,
        file: FilePlan,
        segment: Segment,
        body: bytes,
        pcrc32: int,
        file_crc32: int | None,
    ) -> tuple[bytes, ...]:
        """The article as buffers to write in order (ends with CRLF, no terminator)."""
        name = segment.wire_name or file.name
        head = self.headers(file, segment) + yenc.header_lines(
            part=segment.number,
            total=len(file.segments),
            file_size=file.size,
            name=name,
            begin=segment.offset + 1,
            end=segment.offset + segment.length,
        )
        tail = yenc.trailer_line(
            size=segment.length, part=segment.number, pcrc32=pcrc32, crc32=file_crc32
        )
        return head, body, tail
