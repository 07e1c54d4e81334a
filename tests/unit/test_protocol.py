import pytest
from hypothesis import given
from hypothesis import strategies as st

from postie import errors
from postie.nntp import protocol
from postie.nntp.protocol import Action, PostOutcome, Reply, ReplyParser


def feed_all(data: bytes, cuts: list[int]) -> list[Reply]:
    parser = ReplyParser()
    replies: list[Reply] = []
    last = 0
    for cut in sorted(set(cuts)):
        replies.extend(parser.feed(data[last:cut]))
        last = cut
    replies.extend(parser.feed(data[last:]))
    return replies


SCRIPT = (
    b"200 news.example ready (posting ok)\r\n"
    b"101 Capability list:\r\nVERSION 2\r\nREADER\r\n..dotted\r\nPOST\r\n.\r\n"
    b"381 Enter password\r\n"
    b"281 Authentication succeeded\r\n"
    b"340 Ok\r\n"
    b"240 Article received <a@b>\r\n"
    b"223 0 <a@b>\r\n"
    b"430 No such article\r\n"
)


def check_script(replies: list[Reply]) -> None:
    assert [r.code for r in replies] == [200, 101, 381, 281, 340, 240, 223, 430]
    assert replies[1].lines == (b"VERSION 2", b"READER", b".dotted", b"POST")
    assert replies[0].message == "news.example ready (posting ok)"
    assert replies[5].lines is None


def test_parser_reads_a_scripted_session() -> None:
    check_script(feed_all(SCRIPT, []))


@given(st.lists(st.integers(min_value=0, max_value=len(SCRIPT)), max_size=20))
def test_parser_result_does_not_depend_on_chunking(cuts: list[int]) -> None:
    check_script(feed_all(SCRIPT, cuts))


def test_parser_byte_by_byte() -> None:
    check_script(feed_all(SCRIPT, list(range(len(SCRIPT)))))


def test_parser_accepts_bare_lf_and_code_only_lines() -> None:
    replies = ReplyParser().feed(b"205\n223 0 <x@y>\n")
    assert [(r.code, r.line) for r in replies] == [(205, "205"), (223, "223 0 <x@y>")]


@pytest.mark.parametrize(
    "line", [b"hello\r\n", b"2x0 no\r\n", b"2000 what\r\n", b"\r\n", b"\xff\xfe bytes\r\n"]
)
def test_parser_rejects_non_nntp(line: bytes) -> None:
    """Anything but a three-digit code (alone or before a space) is a protocol error that
    quotes what came, undecodable bytes included."""
    shown = line[:-2].decode("utf-8", "replace")
    with pytest.raises(errors.ProtocolError) as info:
        ReplyParser().feed(line)
    assert info.value.reply == shown
    assert str(info.value) == f"not an NNTP reply: {shown!r}"


def test_parser_decodes_a_reply_that_is_not_utf8() -> None:
    """A reply line in another encoding is read with replacement characters, not refused:
    a one-line reply, and the status line of a multi-line one."""
    (reply,) = ReplyParser().feed(b"200 caf\xe9 ready\r\n")
    assert (reply.code, reply.line) == (200, "200 caf\ufffd ready")
    (reply,) = ReplyParser().feed(b"215 caf\xe9 list\r\nalt.\xe9 1 2 y\r\n.\r\n")
    assert (reply.code, reply.line, reply.lines) == (
        215,
        "215 caf\ufffd list",
        (b"alt.\xe9 1 2 y",),
    )


def test_parser_takes_a_multiline_status_line_of_only_the_code() -> None:
    (reply,) = ReplyParser().feed(b"215\r\nalt.test 1 2 y\r\n.\r\n")
    assert (reply.code, reply.line, reply.lines) == (215, "215", (b"alt.test 1 2 y",))


def test_parser_limits_line_length() -> None:
    """A reply line may be MAX_REPLY_LINE bytes before its end arrives; one more is too long."""
    parser = ReplyParser()
    assert parser.feed(b"2" * protocol.MAX_REPLY_LINE) == []
    with pytest.raises(errors.ProtocolError) as info:
        parser.feed(b"0")
    assert str(info.value) == f"reply line longer than {protocol.MAX_REPLY_LINE} bytes"
    with pytest.raises(errors.ProtocolError):
        ReplyParser().feed(b"2" * (protocol.MAX_REPLY_LINE + 10))


@pytest.mark.parametrize("bad", ["\r", "\n", "\0"])
def test_encode_command_refuses_any_line_break_or_nul(bad: str) -> None:
    """CR, LF or NUL anywhere would end or corrupt the command line: each alone is refused."""
    with pytest.raises(errors.UsageError) as info:
        protocol.encode_command("AUTHINFO", "USER", f"evil{bad}POST")
    assert str(info.value) == "NNTP command contains a line break: 'AUTHINFO'"


def test_encode_command_length_limit_includes_crlf() -> None:
    """MAX_COMMAND_LENGTH bytes with the CRLF is allowed; one more byte is not."""
    arg = "a" * (protocol.MAX_COMMAND_LENGTH - len("STAT \r\n"))
    assert len(protocol.encode_command("STAT", arg)) == protocol.MAX_COMMAND_LENGTH
    with pytest.raises(errors.UsageError) as info:
        protocol.encode_command("STAT", arg + "a")
    assert str(info.value) == f"NNTP command longer than {protocol.MAX_COMMAND_LENGTH} bytes: STAT"


def test_encode_command() -> None:
    assert protocol.encode_command("STAT", "<a@b>") == b"STAT <a@b>\r\n"
    assert protocol.encode_command("QUIT") == b"QUIT\r\n"
    with pytest.raises(errors.UsageError):
        protocol.encode_command("AUTHINFO", "USER", "evil\r\nPOST")
    with pytest.raises(errors.UsageError):
        protocol.encode_command("STAT", "<" + "a" * 600 + "@b>")


@given(st.lists(st.sampled_from([b".", b"..", b"a", b"\r\n", b".x", b"x."]), max_size=30))
def test_dot_stuffing_roundtrip(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    stuffed = protocol.dot_stuff(data)
    assert protocol.dot_unstuff(stuffed) == data
    for line in stuffed.split(b"\r\n"):
        assert line != b".", "a lone dot would end the article early"


def test_dot_stuff_examples() -> None:
    assert protocol.dot_stuff(b".a\r\n.\r\nb") == b"..a\r\n..\r\nb"
    assert protocol.dot_stuff(b"a.b\r\nc") == b"a.b\r\nc"


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (100, Action.OK),
        (200, Action.OK),
        (240, Action.OK),
        (299, Action.OK),
        (300, Action.CONTINUE),
        (340, Action.CONTINUE),
        (381, Action.CONTINUE),
        (399, Action.CONTINUE),
        (480, Action.REAUTH),
        (400, Action.RETRY),
        (403, Action.RETRY),
        (441, Action.RETRY),
        (436, Action.RETRY),
        (451, Action.RETRY),
        (499, Action.RETRY),
        (481, Action.GIVE_UP),
        (482, Action.GIVE_UP),
        (483, Action.GIVE_UP),
        (437, Action.GIVE_UP),
        (502, Action.GIVE_UP),
        (440, Action.GIVE_UP),
        (500, Action.GIVE_UP),
        (501, Action.GIVE_UP),
        (503, Action.GIVE_UP),
        (599, Action.GIVE_UP),
        (99, Action.GIVE_UP),
    ],
)
def test_classify(code: int, action: Action) -> None:
    assert protocol.classify(code) is action


@pytest.mark.parametrize(
    ("line", "outcome"),
    [
        ("240 Article received <a@b>", PostOutcome.ACCEPTED),
        ("441 435 Duplicate", PostOutcome.DUPLICATE),
        ("435 Article not wanted", PostOutcome.DUPLICATE),
        ("437 Duplicate article", PostOutcome.DUPLICATE),
        ("437 Article too large", PostOutcome.TOO_LARGE),
        ("441 Article is bigger than local limit", PostOutcome.TOO_LARGE),
        ("441 No valid newsgroups in alt.nope", PostOutcome.GROUP_REFUSED),
        ("441 Posting failed", PostOutcome.RETRY),
        ("440 Posting not permitted", PostOutcome.NOT_PERMITTED),
        ("480 Authentication required", PostOutcome.REAUTH),
        ("436 Try again later", PostOutcome.RETRY),
        ("500 What?", PostOutcome.REJECTED),
    ],
)
def test_post_outcome(line: str, outcome: PostOutcome) -> None:
    assert protocol.post_outcome(Reply(int(line[:3]), line)) is outcome


def test_error_for_keeps_the_reply_line() -> None:
    err = protocol.error_for(Reply(481, "481 Authentication failed"), "news:119 refused login")
    assert isinstance(err, errors.AuthenticationFailed)
    assert err.reply == "481 Authentication failed"
    assert "481 Authentication failed" in str(err)
    assert isinstance(protocol.error_for(Reply(480, "480 x"), "c"), errors.AuthenticationRequired)
    assert isinstance(protocol.error_for(Reply(440, "440 x"), "c"), errors.PostingNotPermitted)
    assert isinstance(protocol.error_for(Reply(436, "436 x"), "c"), errors.RetryableError)


@pytest.mark.parametrize(
    ("line", "kind", "suffix"),
    [
        ("480 Authentication required", errors.AuthenticationRequired, ""),
        ("481 Authentication failed", errors.AuthenticationFailed, ""),
        ("482 Authentication commands issued out of sequence", errors.AuthenticationFailed, ""),
        ("440 Posting not permitted", errors.PostingNotPermitted, ""),
        ("502 Permission denied", errors.GiveUp, " (no permission)"),
        ("503 Feature not supported", errors.GiveUp, ""),
        ("436 Transfer not possible; try again later", errors.ServerBusy, ""),
        ("400 Service temporarily unavailable", errors.ServerBusy, ""),
        ("500 Command not recognized", errors.GiveUp, ""),
    ],
)
def test_error_for_each_failing_reply(line: str, kind: type[Exception], suffix: str) -> None:
    """Each failing reply maps to the exception that says what to do next, its message the
    context and the reply line, and the reply line kept."""
    err = protocol.error_for(Reply(int(line[:3]), line), "news:119 POST")
    assert type(err) is kind
    assert str(err) == f"news:119 POST: {line}{suffix}"
    assert err.reply == line


def test_message_id_in() -> None:
    assert protocol.message_id_in("240 Article received <abc@def.ghi>") == "<abc@def.ghi>"
    assert protocol.message_id_in("240 ok") is None
