"""Tests for postie.article.build beyond the subject (see test_yenc.py): the Date header,
and the yEnc framing of every article of a tiny file, by hand."""

from __future__ import annotations

import email.utils
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from postie.article import yenc
from postie.article.build import ArticleBuilder, rfc5322_date
from postie.article.plan import Collected, FilePlan, JobPlan, Segment, SourceFile, plan_job
from postie.config import Obfuscation, PostingConfig, parse_config
from postie.runtime.engine import PostingJob
from postie.runtime.runtime import Runtime
from postie.testing import FaultyNNTPServer
from tests import yenc_ref


@settings(max_examples=2000, deadline=None)
@given(st.integers(min_value=-62_135_596_800, max_value=253_402_300_799))  # years 1 to 9999
@example(0)
@example(951_782_400)  # 29 Feb 2000
@example(1_795_461_652)  # Mon, 23 Nov 2026 19:20:52 GMT
@example(253_402_300_799)  # Fri, 31 Dec 9999 23:59:59 GMT
def test_date_is_what_email_utils_writes(seconds: int) -> None:
    assert rfc5322_date(seconds) == email.utils.formatdate(seconds, usegmt=True)


def test_date_example_and_now() -> None:
    assert rfc5322_date(1_795_461_652) == "Mon, 23 Nov 2026 19:20:52 GMT"
    now = int(time.time())
    assert rfc5322_date(now) == email.utils.formatdate(now, usegmt=True)


# --- yEnc framing of a tiny file, by hand -----------------------------------------------------
#
# The file "tiny.bin" is the 10 bytes b"abcdefghij" in parts of 4: bytes 1-4, 5-8 and 9-10
# (``=ypart begin`` is 1-based and ``end`` inclusive). The CRCs are zlib.crc32 of each part
# and of the whole file; ``crc32=`` (the whole file) is on the last part only.

TINY = b"abcdefghij"
TINY_PARTS = ((0, 4), (4, 4), (8, 2))  # (offset, length)
TINY_FRAMING = (
    (
        b"=ybegin part=1 total=3 line=128 size=10 name=tiny.bin\r\n=ypart begin=1 end=4\r\n",
        b"\r\n=yend size=4 part=1 pcrc32=ed82cd11\r\n",
    ),
    (
        b"=ybegin part=2 total=3 line=128 size=10 name=tiny.bin\r\n=ypart begin=5 end=8\r\n",
        b"\r\n=yend size=4 part=2 pcrc32=08337bb5\r\n",
    ),
    (
        b"=ybegin part=3 total=3 line=128 size=10 name=tiny.bin\r\n=ypart begin=9 end=10\r\n",
        b"\r\n=yend size=2 part=3 pcrc32=58814a57 crc32=3981703a\r\n",
    ),
)


def test_the_hand_computed_crcs_are_zlibs() -> None:
    """The CRCs written into TINY_FRAMING are those of the parts and of the whole file."""
    assert [zlib.crc32(TINY[o : o + n]) for o, n in TINY_PARTS] == [
        0xED82CD11,
        0x08337BB5,
        0x58814A57,
    ]
    assert zlib.crc32(TINY) == 0x3981703A


def tiny_plan(path: Path) -> JobPlan:
    """A plan of the 10-byte file in parts of 4 (smaller than any configurable article)."""
    segments = tuple(
        Segment(number, offset, length, f"tiny{number}@postie.test")
        for number, (offset, length) in enumerate(TINY_PARTS, start=1)
    )
    file = FilePlan(1, str(path), "tiny.bin", len(TINY), 0, segments)
    return JobPlan(
        name="tiny",
        files=(file,),
        groups=("alt.binaries.test",),
        poster="postie <postie@postie.invalid>",
        date=0,
        obfuscation=Obfuscation.NONE,
        total_bytes=len(TINY),
    )


def test_article_framing_of_a_tiny_file() -> None:
    """Each article's =ybegin/=ypart lines and =yend line are exactly the hand-computed ones
    when given the part CRC, and the whole-file CRC for the last part."""
    plan = tiny_plan(Path("/nonexistent/tiny.bin"))
    builder = ArticleBuilder(plan, PostingConfig())
    file = plan.files[0]
    for segment, (ybegin, yend) in zip(file.segments, TINY_FRAMING, strict=True):
        raw = TINY[segment.offset : segment.offset + segment.length]
        body, pcrc = yenc.encode(raw)
        last = segment.number == len(file.segments)
        head, sent_body, tail = builder.article(
            file, segment, body, pcrc, zlib.crc32(TINY) if last else None
        )
        _, framing = head.split(b"\r\n\r\n", 1)
        assert framing == ybegin
        assert sent_body == body
        assert tail == yend
        assert yenc_ref.decode(sent_body) == raw


async def test_the_engine_frames_a_tiny_file_by_hand(tmp_path: Path) -> None:
    """Posted through the engine (to the in-process test server), the articles carry
    exactly the hand-computed framing: 1-based ``begin``, ``crc32=`` on the last part only."""
    path = tmp_path / "tiny.bin"
    path.write_bytes(TINY)
    plan = tiny_plan(path)
    async with FaultyNNTPServer() as server:
        cfg = parse_config({"servers": [{"host": server.host, "port": server.port}]})
        async with Runtime(cfg) as runtime:
            result = await PostingJob(runtime, plan, cfg.posting).run()
        assert result.complete, result.failed
        for segment, (ybegin, yend) in zip(plan.files[0].segments, TINY_FRAMING, strict=True):
            article = server.articles[f"<{segment.message_id}>"]
            _, body = yenc_ref.split_article(article)
            assert body.startswith(ybegin)
            assert body.endswith(yend)
            assert (
                yenc_ref.parse_article_body(body).data
                == (TINY[segment.offset : segment.offset + segment.length])
            )


# --- headers -----------------------------------------------------------------------------------


def one_file_plan(posting: PostingConfig, *, now: float = 0) -> JobPlan:
    collected = Collected((SourceFile("/x/movie.mkv", "movie.mkv", 3000, 0),))
    return plan_job(collected, posting, name="x", now=now)


def test_headers_cross_post_to_every_group_comma_separated() -> None:
    """Newsgroups lists every configured group, joined by commas and nothing else."""
    posting = PostingConfig(groups=("alt.binaries.test", "alt.binaries.misc"), article_size=1024)
    plan = one_file_plan(posting)
    head = ArticleBuilder(plan, posting).headers(plan.files[0], plan.files[0].segments[0])
    assert b"\r\nNewsgroups: alt.binaries.test,alt.binaries.misc\r\n" in head


@pytest.mark.parametrize(("template", "want"), [("{part!s}/{parts}", "2/3"), ("{part!r}", "2")])
def test_a_conversion_on_part_gives_the_real_number(template: str, want: str) -> None:
    """{part!s} and {part!r} are formatted with the real part number, like a format spec."""
    posting = PostingConfig(subject=template, article_size=1024)
    plan = one_file_plan(posting)
    builder = ArticleBuilder(plan, posting)
    assert builder.subject(plan.files[0], plan.files[0].segments[1]) == want


def test_the_date_header_is_the_current_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Date is the time the article is built (not the plan's), formatted per RFC 5322,
    and follows the clock from one second to the next."""
    posting = PostingConfig(article_size=1024)
    plan = one_file_plan(posting, now=0)
    builder = ArticleBuilder(plan, posting)
    file = plan.files[0]
    for now in (1_795_461_652.5, 1_795_461_653.0):
        monkeypatch.setattr(time, "time", lambda now=now: now)
        head = builder.headers(file, file.segments[0]).decode()
        assert f"\r\nDate: {rfc5322_date(int(now))}\r\n\r\n" in head


def test_full_obfuscation_puts_each_segments_own_from_and_subject() -> None:
    """Under full obfuscation every article has its segment's random From and Subject; the
    NZB still gets the real subject."""
    posting = PostingConfig(obfuscation=Obfuscation.FULL, article_size=1024)
    plan = one_file_plan(posting)
    builder = ArticleBuilder(plan, posting)
    file = plan.files[0]
    for segment in file.segments:
        assert segment.poster is not None
        assert segment.subject is not None
        head = builder.headers(file, segment).decode()
        assert head.startswith(f"From: {segment.poster}\r\nNewsgroups: alt.binaries.test\r\n")
        assert f"\r\nSubject: {segment.subject}\r\n" in head
        assert "movie.mkv" not in head
    assert builder.nzb_subject(file) == '[1/1] - "movie.mkv" yEnc (1/3)'


def test_subjects_stay_right_when_the_kept_templates_are_emptied() -> None:
    """The subject template is kept formatted for the files being read only: the cache
    is emptied as it grows (a folder of 100,000 files), and every subject stays right."""
    from postie.article import build

    posting = PostingConfig(subject="[{index}/{count}] {name} ({part}/{parts})", article_size=1024)
    sources = tuple(
        SourceFile(f"/x/f{i}.bin", f"f{i}.bin", 2048, 0) for i in range(build._SUBJECTS_KEPT * 3)
    )
    plan = plan_job(Collected(sources), posting, name="x", now=0)
    builder = ArticleBuilder(plan, posting)
    count = len(plan.files)
    for _ in range(2):
        for f in plan.files:
            for s in f.segments:
                want = f"[{f.index}/{count}] {f.name} ({s.number}/2)"
                assert builder.subject(f, s) == want
            assert len(builder._subjects) <= build._SUBJECTS_KEPT
