"""Tests for postie.article.ids: new Message-IDs, and brackets on and off."""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postie.article import ids, plan
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


def test_one_urandom_call_per_batch_of_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.urandom

    def urandom(n: int) -> bytes:
        calls.append(n)
        return real(n)

    monkeypatch.setattr(ids, "_ready", [])
    monkeypatch.setattr(os, "urandom", urandom)
    made = {new_message_id("x") for _ in range(3 * ids.BATCH)}
    assert len(made) == 3 * ids.BATCH
    assert calls == [16 * ids.BATCH] * 3


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_never_hands_out_the_parents_unused_ids() -> None:
    new_message_id("x")  # the parent holds a batch, most of it unused
    unused = set(ids._ready)
    assert unused
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it would hand out
        try:
            os.write(write, " ".join(new_message_id("x") for _ in range(8)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = {mid.split("@")[0] for mid in pipe.read().split()}
    os.waitpid(pid, 0)
    assert len(child) == 8
    assert not child & unused
