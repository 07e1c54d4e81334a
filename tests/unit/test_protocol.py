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


@pytest.mark.parametrize("line", [b"hello\r\n", b"2x0 no\r\n", b"2000 what\r\n", b"\r\n"])
def test_parser_rejects_non_nntp(line: bytes) -> None:
    with pytest.raises(errors.ProtocolError):
        ReplyParser().feed(line)


def test_parser_limits_line_length() -> None:
    with pytest.raises(errors.ProtocolError):
        ReplyParser().feed(b"2" * (protocol.MAX_REPLY_LINE + 10))


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
        (200, Action.OK),
        (240, Action.OK),
        (340, Action.CONTINUE),
        (381, Action.CONTINUE),
        (480, Action.REAUTH),
        (400, Action.RETRY),
        (441, Action.RETRY),
        (436, Action.RETRY),
        (481, Action.GIVE_UP),
        (502, Action.GIVE_UP),
        (440, Action.GIVE_UP),
        (500, Action.GIVE_UP),
    ],
)
def test_classify(code: int, action: Action) -> None:
    assert protocol.classify(code) is action


@pytest.mark.parametrize(
    ("line", "outcome"),
    [
        ("240 Article received <a@b>", PostOutcome.ACCEPTED),
        ("441 435 Duplicate", PostOutcome.DUPLICATE),
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


def test_message_id_in() -> None:
    assert protocol.message_id_in("240 Article received <abc@def.ghi>") == "<abc@def.ghi>"
    assert protocol.message_id_in("240 ok") is None
