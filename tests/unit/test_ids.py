"""Tests for postie.article.ids: new Message-IDs, and brackets on and off."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from postie.article import plan
from postie.article.ids import bare, bracketed, new_message_id

IDS = st.text(st.characters(blacklist_characters="<>"), min_size=1)


def test_new_message_id_is_bare_random_hex_at_the_domain() -> None:
    made = {new_message_id("postie.example") for _ in range(100)}
    assert len(made) == 100
    assert all(re.fullmatch(r"[0-9a-f]{32}@postie\.example", m) for m in made)
    assert plan.new_message_id is new_message_id  # its old import still works


@given(IDS)
def test_either_form_in_each_form_out(mid: str) -> None:
    assert bare(mid) == bare(f"<{mid}>") == mid
    assert bracketed(mid) == bracketed(f"<{mid}>") == f"<{mid}>"
    assert bracketed(bare(f"<{mid}>")) == f"<{mid}>"
