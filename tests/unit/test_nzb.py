"""Tests for postie.nzb: rendering NZB 1.1, atomic writes and parsing."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postie import nzb
from postie.errors import InputError
from postie.nzb import DOCTYPE, NAMESPACE, Nzb, NzbFile, NzbSegment, parse, read, render, write

NS = "{" + NAMESPACE + "}"
PUBLIC_ID = "-//newzBin//DTD NZB 1.1//EN"
SYSTEM_ID = "http://www.newzbin.com/DTD/nzb/nzb-1.1.dtd"


def nzb_file(
    subject: str = 'My file [1/2] - "a.bin" yEnc (1/2)',
    poster: str = "postie <postie@postie.invalid>",
    *,
    date: int = 1_700_000_000,
    groups: tuple[str, ...] = ("alt.binaries.test",),
    segments: int = 2,
) -> NzbFile:
    return NzbFile(
        poster=poster,
        date=date,
        subject=subject,
        groups=groups,
        segments=tuple(
            NzbSegment(number=i, bytes=700_000 + i, message_id=f"{i:032x}@postie.local")
            for i in range(1, segments + 1)
        ),
    )


def tree(text: str) -> ET.Element:
    return ET.fromstring(text.encode("utf-8"))


def children(element: ET.Element) -> list[str]:
    return [child.tag.removeprefix(NS) for child in element]


# --- render --------------------------------------------------------------------------------


def test_render_prolog() -> None:
    text = render([nzb_file()])
    lines = text.splitlines()
    assert lines[0] == '<?xml version="1.0" encoding="UTF-8"?>'
    assert lines[1] == DOCTYPE
    assert lines[1] == f'<!DOCTYPE nzb PUBLIC "{PUBLIC_ID}" "{SYSTEM_ID}">'
    assert text.endswith("</nzb>\n")


def test_render_root_is_nzb_in_the_namespace() -> None:
    root = tree(render([nzb_file()]))
    assert root.tag == f"{NS}nzb"
    assert NAMESPACE == "http://www.newzbin.com/DTD/2003/nzb"


def test_render_structure_follows_the_dtd() -> None:
    files = [
        nzb_file("first", groups=("alt.binaries.a", "alt.binaries.b"), segments=3),
        nzb_file("second", date=1_600_000_000, segments=1),
    ]
    root = tree(render(files, {"title": "T", "password": "pw", "tag": "x", "category": "tv"}))
    # nzb (head?, file+); head (meta*); file (groups, segments); groups (group+)
    assert children(root) == ["head", "file", "file"]
    head = root[0]
    assert children(head) == ["meta"] * 4
    assert [(m.get("type"), m.text) for m in head] == [
        ("title", "T"),
        ("password", "pw"),
        ("tag", "x"),
        ("category", "tv"),
    ]
    for element, f in zip(root.findall(f"{NS}file"), files, strict=True):
        assert set(element.attrib) == {"poster", "date", "subject"}
        assert element.get("poster") == f.poster
        assert element.get("date") == str(f.date)
        assert element.get("subject") == f.subject
        assert children(element) == ["groups", "segments"]
        groups, segments = element
        assert children(groups) == ["group"] * len(f.groups)
        assert tuple(g.text for g in groups) == f.groups
        assert children(segments) == ["segment"] * len(f.segments)
        for seg_el, seg in zip(segments, f.segments, strict=True):
            assert set(seg_el.attrib) == {"bytes", "number"}
            assert seg_el.get("bytes") == str(seg.bytes)
            assert seg_el.get("number") == str(seg.number)
            assert seg_el.text == seg.message_id
            assert not seg_el.text.startswith("<")
            assert not seg_el.text.endswith(">")
            assert len(seg_el) == 0


def test_render_without_meta_has_no_head() -> None:
    for meta in (None, {}, {"title": None, "password": "", "tag": None}):
        root = tree(render([nzb_file()], meta))
        assert children(root) == ["file"]


def test_render_meta_only_for_non_empty_values() -> None:
    root = tree(render([nzb_file()], {"title": "Holiday", "password": "", "tag": None}))
    head = root.find(f"{NS}head")
    assert head is not None
    assert [(m.get("type"), m.text) for m in head] == [("title", "Holiday")]


def test_render_escapes_xml_special_characters() -> None:
    nasty = "A & B <c> \"d\" 'e' ]]> &amp;"
    f = nzb_file(subject=nasty, poster=f"{nasty} <x@y>")
    text = render([f], {"title": nasty})
    assert "<c>" not in text
    assert "& B" not in text
    root = tree(text)
    file_el = root.find(f"{NS}file")
    assert file_el is not None
    assert file_el.get("subject") == nasty
    assert file_el.get("poster") == f"{nasty} <x@y>"
    meta = root.find(f"{NS}head/{NS}meta")
    assert meta is not None
    assert meta.text == nasty


def test_render_keeps_whitespace_in_attributes() -> None:
    subject = "  tab\there\nnewline\r\nend  "
    parsed = parse(render([nzb_file(subject=subject, poster="p\t<a@b>")]))
    assert parsed.files[0].subject == subject
    assert parsed.files[0].poster == "p\t<a@b>"


def test_render_non_ascii() -> None:
    subject = "Ünïcødé 日本語 🎬 — «ok»"
    data = render([nzb_file(subject=subject)]).encode("utf-8")
    root = ET.fromstring(data)
    file_el = root.find(f"{NS}file")
    assert file_el is not None
    assert file_el.get("subject") == subject


def test_render_meta_value_with_carriage_return_roundtrips() -> None:
    # Element text is subject to XML end-of-line normalisation: a raw CR comes back as LF
    # unless it is written as a character reference.
    parsed = parse(render([], {"title": "one\rtwo"}))
    assert parsed.meta == (("title", "one\rtwo"),)


@pytest.mark.parametrize("char", ["\x01", "\x0c", "\x1b", "\ufffe"])
def test_render_is_well_formed_whatever_the_subject(char: str) -> None:
    # Subjects carry file names, which may hold any character; the NZB must stay readable.
    text = render([nzb_file(subject=f"a{char}b.bin", poster=f"p{char} <a@b>")], {"title": char})
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == f"{NS}nzb"


# --- round trip -----------------------------------------------------------------------------


def _xml_char(c: str) -> bool:
    return (
        c in "\t\n\r" or "\x20" <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c >= "\U00010000"
    )


# Any code point but the surrogates (which cannot be encoded to UTF-8 at all).
CHARS = st.characters(max_codepoint=0xD7FF) | st.characters(min_codepoint=0xE000)
XML_TEXT = st.text(CHARS.filter(_xml_char), max_size=30)
SPECIALS = st.text(st.sampled_from("&<>\"' \t\n\ré日🎬]]>;#x"), max_size=20)
NON_SURROGATE = st.text(CHARS, max_size=40)
ANY_TEXT = st.one_of(XML_TEXT, SPECIALS, (XML_TEXT | SPECIALS).map(lambda s: f"&{s}<'\""))
_ATOM = st.text("abcdefghijklmnopqrstuvwxyz0123456789+_-", min_size=1, max_size=8)
GROUP = st.lists(_ATOM, min_size=1, max_size=4).map(".".join)
MESSAGE_ID = st.builds(
    "{}@{}".format,
    st.text("ABCDEFabcdef0123456789$.%+_-", min_size=1, max_size=32),
    GROUP,
)


SEGMENTS = st.lists(st.tuples(st.integers(0, 2**31), MESSAGE_ID), min_size=1, max_size=3).map(
    lambda parts: tuple(NzbSegment(i, n, mid) for i, (n, mid) in enumerate(parts, start=1))
)
NZB_FILE = st.builds(
    NzbFile,
    poster=ANY_TEXT,
    date=st.integers(0, 2**40),
    subject=ANY_TEXT,
    groups=st.lists(GROUP, min_size=1, max_size=3).map(tuple),
    segments=SEGMENTS,
)


@settings(max_examples=100, deadline=None)
@given(
    files=st.lists(NZB_FILE, min_size=1, max_size=3),
    meta=st.dictionaries(
        st.sampled_from(nzb.META_TYPES),
        # CR in element text is the subject of its own test above.
        ANY_TEXT.map(lambda s: s.replace("\r", "")),
    ),
)
def test_render_parse_roundtrip(files: list[NzbFile], meta: dict[str, str]) -> None:
    parsed = parse(render(files, meta))
    assert parsed == Nzb(tuple(files), tuple((k, v) for k, v in meta.items() if v))


@settings(max_examples=100, deadline=None)
@given(subject=NON_SURROGATE, poster=NON_SURROGATE)
def test_render_is_well_formed_for_any_text(subject: str, poster: str) -> None:
    text = render([nzb_file(subject=subject, poster=poster)])
    ET.fromstring(text.encode("utf-8"))


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(NON_SURROGATE, ANY_TEXT))
def test_escaping_is_what_saxutils_wrote(value: str) -> None:
    # nzb escapes by hand so that writing an NZB does not import xml.sax.saxutils (and
    # urllib.request, http.client, email with it); the bytes must stay what they were.
    from xml.sax.saxutils import escape, quoteattr

    clean = nzb._not_xml().sub("\ufffd", value)
    assert nzb._text(value) == escape(clean, {"\r": "&#13;"})
    assert nzb._attr(value) == quoteattr(clean, {"\r": "&#13;"})


def test_the_forbidden_characters_are_what_xml_1_0_does_not_allow() -> None:
    # Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
    def allowed(c: int) -> bool:
        return c in (0x9, 0xA, 0xD) or 0x20 <= c <= 0xD7FF or 0xE000 <= c <= 0xFFFD or c >= 0x10000

    forbidden = nzb._not_xml()
    wrong = [hex(c) for c in range(0x110000) if (forbidden.match(chr(c)) is None) != allowed(c)]
    assert wrong == []


# --- parse ---------------------------------------------------------------------------------


def test_parse_without_namespace() -> None:
    text = """<?xml version="1.0" encoding="iso-8859-1" ?>
<nzb>
 <head><meta type="title">Old</meta></head>
 <file poster="Joe &lt;joe@example.com&gt;" date="1071674882" subject="caf&#233; (1/2)">
  <groups><group> alt.binaries.newzbin </group><group>alt.binaries.mojo</group></groups>
  <segments>
   <segment bytes="102394" number="2">  second@news.example.com </segment>
   <segment bytes="102394" number="1">first@news.example.com</segment>
  </segments>
 </file>
</nzb>
"""
    parsed = parse(text.encode("iso-8859-1"))
    assert parsed.meta == (("title", "Old"),)
    assert parsed.files == (
        NzbFile(
            poster="Joe <joe@example.com>",
            date=1071674882,
            subject="café (1/2)",
            groups=("alt.binaries.newzbin", "alt.binaries.mojo"),
            segments=(  # sorted by number, ids stripped
                NzbSegment(1, 102394, "first@news.example.com"),
                NzbSegment(2, 102394, "second@news.example.com"),
            ),
        ),
    )


def test_parse_accepts_str_and_bytes() -> None:
    text = render([nzb_file()], {"title": "t"})
    assert parse(text) == parse(text.encode("utf-8"))
    assert parse(text).files == (nzb_file(),)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not xml at all",
        b"\x00\x01\x02\xff",
        b"<nzb><file>",
        "<nzb><file></nzb>",
        b'<?xml version="1.0"?><nzb',
    ],
)
def test_parse_garbage_is_an_input_error(data: bytes | str) -> None:
    with pytest.raises(InputError, match=r"my\.nzb is not valid XML"):
        parse(data, "my.nzb")


def test_parse_other_xml_is_an_input_error() -> None:
    with pytest.raises(InputError, match="not an NZB"):
        parse(b"<html><body/></html>", "page.html")


@pytest.mark.parametrize(
    "segment",
    [
        '<segment bytes="x" number="1">a@b</segment>',
        '<segment bytes="1" number="one">a@b</segment>',
    ],
)
def test_parse_bad_segment_attributes_is_an_input_error(segment: str) -> None:
    data = f'<nzb><file poster="p" date="1" subject="s"><segments>{segment}</segments></file></nzb>'
    with pytest.raises(InputError, match="bad segment attributes"):
        parse(data, "x.nzb")


def test_parse_bad_date_is_an_input_error() -> None:
    data = '<nzb><file poster="p" date="yesterday" subject="s"><groups/><segments/></file></nzb>'
    with pytest.raises(InputError, match=r"x\.nzb"):
        parse(data, "x.nzb")


def test_parse_missing_attributes_get_defaults() -> None:
    parsed = parse('<nzb><file date=""><segments><segment>id@x</segment></segments></file></nzb>')
    assert parsed.files == (NzbFile("", 0, "", (), (NzbSegment(0, 0, "id@x"),)),)


# --- write / read ---------------------------------------------------------------------------


def leftovers(folder: Path, keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


def test_write_then_read(tmp_path: Path) -> None:
    path = tmp_path / "out" / "deep" / "job.nzb"  # parent folders are created
    files = [nzb_file("é & <x>"), nzb_file("two", segments=5)]
    write(path, files, {"title": "T", "tag": None})
    assert path.read_bytes() == render(files, {"title": "T"}).encode("utf-8")
    assert read(path) == Nzb(tuple(files), (("title", "T"),))
    assert leftovers(path.parent, "job.nzb") == []
    assert path.stat().st_mode & 0o777 == 0o644


def test_write_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "job.nzb"
    path.write_text("old content", encoding="utf-8")
    write(path, [nzb_file("new")])
    assert read(path).files[0].subject == "new"
    assert leftovers(tmp_path, "job.nzb") == []


def test_write_keeps_the_old_file_when_the_rename_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "job.nzb"
    path.write_text("old content", encoding="utf-8")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        write(path, [nzb_file("new")])
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == "old content"
    assert leftovers(tmp_path, "job.nzb") == []


def test_write_keeps_the_old_file_when_the_fsync_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "job.nzb"
    path.write_text("old content", encoding="utf-8")

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        write(path, [nzb_file("new")])
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == "old content"
    assert leftovers(tmp_path, "job.nzb") == []


def test_write_keeps_the_old_file_when_rendering_fails(tmp_path: Path) -> None:
    path = tmp_path / "job.nzb"
    path.write_text("old content", encoding="utf-8")

    def files() -> Iterator[NzbFile]:
        yield nzb_file("new")
        raise RuntimeError("the source went away")

    with pytest.raises(RuntimeError, match="went away"):
        write(path, files())
    assert path.read_text(encoding="utf-8") == "old content"
    assert leftovers(tmp_path, "job.nzb") == []


def test_write_is_interrupted_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A KeyboardInterrupt in the middle also removes the temporary file.
    path = tmp_path / "job.nzb"
    path.write_text("old content", encoding="utf-8")

    def interrupted(fd: int, mode: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "chmod", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write(path, [nzb_file("new")])
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == "old content"
    assert leftovers(tmp_path, "job.nzb") == []


def test_write_leaves_no_temporary_file_in_a_busy_folder(tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    other.write_text("x", encoding="utf-8")
    write(tmp_path / "a.nzb", [nzb_file()])
    write(tmp_path / "a.nzb", [nzb_file()])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nzb", "other.txt"]
    assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path))


def test_read_missing_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "missing.nzb"
    with pytest.raises(InputError, match="cannot read NZB") as info:
        read(path)
    assert str(path) in str(info.value)


def test_read_garbage_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.nzb"
    path.write_bytes(b"\x89PNG\r\n")
    with pytest.raises(InputError) as info:
        read(path)
    assert str(path) in str(info.value)


def test_write_streams_a_generator_byte_for_byte_as_render(tmp_path: Path) -> None:
    """The NZB is written in pieces (~64 KiB) as a generator makes its files, never whole
    in memory; the bytes are render's."""
    path = tmp_path / "job.nzb"
    made: list[int] = []
    files = [nzb_file(f"file {i} é", segments=1 + i % 7) for i in range(3000)]

    def lazily() -> Iterator[NzbFile]:
        for i, f in enumerate(files):
            made.append(i)
            yield f

    pieces = list(nzb._pieces(nzb.lines(lazily(), {"title": "T"})))
    assert len(pieces) > 10  # written in pieces, not as one string
    assert b"".join(pieces) == render(files, {"title": "T"}).encode("utf-8")
    made.clear()
    write(path, lazily(), {"title": "T"})
    assert made == list(range(len(files)))
    assert path.read_bytes() == render(files, {"title": "T"}).encode("utf-8")
