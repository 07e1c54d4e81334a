"""A transfer's identity: the key of its files must not change from one version to the
next (stores hold it; a changed key would start a transfer anew instead of resuming)."""

from __future__ import annotations

import hashlib
import json
import os

from hypothesis import given
from hypothesis import strategies as st

from postie.transfers.prepared import digest, files_key


def _whole(files: list[tuple[str, int, int]]) -> str:
    """The key as it was first made: the JSON text of the whole list, hashed."""
    text = json.dumps(
        [[os.fsdecode(p), s, m] for p, s, m in files], separators=(",", ":"), ensure_ascii=True
    )
    return hashlib.sha256(text.encode("ascii")).hexdigest()


_names = st.text(st.characters(codec="utf-8") | st.sampled_from(["\udcff", '"', "\\", "\n"]))
_files = st.lists(
    st.tuples(_names, st.integers(0, 2**63 - 1), st.integers(-(2**63), 2**63 - 1)), max_size=40
)


@given(_files)
def test_the_files_key_is_the_digest_of_the_whole_list(files: list[tuple[str, int, int]]) -> None:
    assert files_key(files) == _whole(files) == digest([[p, s, m] for p, s, m in files])


def test_the_files_key_across_its_batches() -> None:
    files = [(f"/data/d{i % 7}/f{i}.bin", i, 10**18 + i) for i in range(3000)]
    assert files_key(files) == _whole(files)
    assert files_key(files[:1024]) == _whole(files[:1024])
    assert files_key(files[:1025]) == _whole(files[:1025])


def test_a_known_key_stays() -> None:
    # computed by the first version of files_key: a store made then must find its transfer
    assert files_key([("/a/b.bin", 1024, 1700000000000000000)]) == (
        hashlib.sha256(b'[["/a/b.bin",1024,1700000000000000000]]').hexdigest()
    )
