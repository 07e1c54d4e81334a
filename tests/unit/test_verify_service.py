"""The verification service's pure parts."""

from __future__ import annotations

import msgspec

from postie.store.api import Failure, FailureState
from postie.verify.misses import _not_found


def test_a_not_found_note_keeps_the_last_re_post_reply_once() -> None:
    """Each recheck rewrites the note from the previous one: the re-post's reply is kept
    once, never the check counts of an earlier note."""
    failure = Failure(
        1, 1, 1, "<a@b>", FailureState.PENDING, 1, 2, 0.0, None, None, "re-post failed: boom"
    )
    first = _not_found(failure, 3)
    assert first == "430 not found by STAT (3 checks, 1 re-posts); last re-post failed: boom"
    again = _not_found(msgspec.structs.replace(failure, last_error=first), 4)
    assert again == "430 not found by STAT (4 checks, 1 re-posts); last re-post failed: boom"
    plain = msgspec.structs.replace(failure, repost_count=0, last_error="430 not found by STAT")
    assert _not_found(plain, 2) == "430 not found by STAT (2 checks, 0 re-posts)"
