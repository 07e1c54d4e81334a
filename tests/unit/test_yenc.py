import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from postie.article import yenc
from tests import yenc_ref

EDGE = bytes([0x00, 0x0A, 0x0D, 0x3D, 0xD6, 0xE0, 0xE3, 0x13, 0x04, 0xF6, 0xDF, 0x09, 0x20])


@given(st.binary(max_size=4000))
@settings(max_examples=200, deadline=None)
def test_body_decodes_to_the_input_and_crc_matches(data: bytes) -> None:
    body, crc = yenc.encode(data)
    assert yenc_ref.decode(body) == data
    assert crc == zlib.crc32(data)


@given(st.lists(st.sampled_from(list(EDGE)), max_size=3000).map(bytes))
@settings(max_examples=200, deadline=None)
def test_edge_bytes_are_escaped_and_lines_stay_short(data: bytes) -> None:
    body, _ = yenc.encode(data)
    for line in body.split(b"\r\n") if body else []:
        assert len(line) <= yenc.LINE_LENGTH + 1
        assert not line.startswith(b"."), "a leading dot would need dot-stuffing"
        for critical in (b"\0", b"\r", b"\n"):
            assert critical not in line
    assert yenc_ref.decode(body) == data


def test_output_matches_reference_encoder_for_plain_bytes() -> None:
    data = bytes(b for b in range(256) if (b + 42) & 0xFF not in {0, 10, 13, 61, 9, 32, 46}) * 8
    body, _ = yenc.encode(data)
    assert body == yenc_ref.encode(data)


def test_leading_dot_is_escaped() -> None:
    # 0x04 + 42 == ord("."): the first byte of each line would be a dot
    body, _ = yenc.encode(bytes([0x04]) * 300)
    lines = body.split(b"\r\n")
    assert all(line.startswith(b"=n") for line in lines)


@given(st.binary(max_size=2000), st.binary(max_size=2000))
def test_crc_combine_equals_crc_of_concatenation(a: bytes, b: bytes) -> None:
    assert yenc.combine_crc(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_header_and_trailer_lines() -> None:
    head = yenc.header_lines(
        part=3, total=12, file_size=8000000, name="my file.bin", begin=1433601, end=2150400
    )
    assert head == (
        b"=ybegin part=3 total=12 line=128 size=8000000 name=my file.bin\r\n"
        b"=ypart begin=1433601 end=2150400\r\n"
    )
    assert yenc.trailer_line(size=716800, part=3, pcrc32=0xABC) == (
        b"\r\n=yend size=716800 part=3 pcrc32=00000abc\r\n"
    )
    assert yenc.trailer_line(size=5, part=12, pcrc32=1, crc32=0xDEADBEEF).endswith(
        b" pcrc32=00000001 crc32=deadbeef\r\n"
    )


def test_subject_template_fields_and_part_format_spec() -> None:

    from postie.article.build import ArticleBuilder
    from postie.article.plan import Collected, SourceFile, plan_job
    from postie.config import PostingConfig

    collected = Collected((SourceFile("/x/{a}.bin", "{a}.bin", 3000, 0),))
    for template, want in [
        ('[{index}/{count}] - "{name}" yEnc ({part}/{parts})', '[1/1] - "{a}.bin" yEnc (2/3)'),
        ("{name} {part:03d} of {parts} {size}", "{a}.bin 002 of 3 3000"),
    ]:
        posting = PostingConfig(subject=template, article_size=1024)
        plan = plan_job(collected, posting, name="x")
        builder = ArticleBuilder(plan, posting)
        file = plan.files[0]
        assert builder.subject(file, file.segments[1]) == want
        head = builder.headers(file, file.segments[1]).decode()
        assert f"Subject: {want}\r\n" in head
        assert head.startswith(
            "From: postie <postie@postie.invalid>\r\nNewsgroups: alt.binaries.test"
        )
        assert head.endswith("\r\n\r\n")
