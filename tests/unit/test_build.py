"""Tests for postie.article.build beyond the subject (see test_yenc.py): the Date header."""

from __future__ import annotations

import email.utils
import time

from hypothesis import example, given, settings
from hypothesis import strategies as st

from postie.article.build import rfc5322_date


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
