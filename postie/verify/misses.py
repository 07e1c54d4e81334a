"""Misses: STAT a leased batch of missing articles again; forget the ones found,
re-post or back off the rest (the rules: step 2 in ``postie.verify.service``).

A miss's note (``last_error``) says what its last STAT and re-post made of it.
"""

from __future__ import annotations

import logging

from postie import crashpoints, errors
from postie.config import VerifyConfig
from postie.store.api import Failure
from postie.verify.repost import Reposted, repost
from postie.verify.work import NOT_FOUND, Work

log = logging.getLogger("postie.verify.service")  # the service's log, whichever part writes


def recheck_delay(config: VerifyConfig, checks: int) -> float:
    """Backoff before the next STAT of an article missing after ``checks`` STATs."""
    return float(min(config.backoff_max, config.backoff * 2 ** max(0, checks - 3)))


async def recheck(work: Work, failures: tuple[Failure, ...]) -> None:
    """STAT ``failures`` (leased to ``work.owner``) again and act on each answer."""
    store, counters, config = work.store, work.counters, work.config
    counters.phase = "rechecking"
    try:
        found = await work.stat([f.message_id for f in failures])
    except errors.NNTPError as exc:
        counters.stat_errors += 1
        log.warning("STAT of %d missing articles failed (no attempt spent): %s", len(failures), exc)
        for f in failures:
            await _reschedule(work, f, next_at=work.retry_at(), error=f"STAT: {exc}")
        if isinstance(exc, errors.GiveUp):
            work.refused = exc
        return
    counters.rechecked += len(failures)
    there = [f.key for f, ok in zip(failures, found, strict=True) if ok]
    counters.found_later += len(there)
    if there:
        await store.resolve_failures(there, owner=work.owner)
    reposts: dict[int, list[Failure]] = {}
    now = store.now()
    for f, ok in zip(failures, found, strict=True):
        if ok:
            continue
        if f.repost_count < config.max_reposts:
            reposts.setdefault(f.transfer_id, []).append(f)
            continue
        checks = f.check_count + 1
        exhausted = checks >= config.max_checks
        counters.exhausted += exhausted
        await _reschedule(
            work,
            f,
            check_count=checks,
            next_at=now + recheck_delay(config, checks),
            error=_not_found(f, checks),
            exhausted=exhausted,
        )
    for transfer_id, items in reposts.items():
        await _repost(work, transfer_id, items)
    for transfer_id in {f.transfer_id for f in failures}:
        await store.settle(transfer_id)


async def _reschedule(
    work: Work,
    f: Failure,
    *,
    next_at: float,
    error: str | None,
    repost_count: int | None = None,
    check_count: int | None = None,
    exhausted: bool = False,
) -> None:
    await work.store.reschedule_failure(
        f.key,
        owner=work.owner,
        repost_count=f.repost_count if repost_count is None else repost_count,
        check_count=f.check_count if check_count is None else check_count,
        next_attempt_at=next_at,
        error=error,
        exhausted=exhausted,
    )


async def _repost(work: Work, transfer_id: int, failures: list[Failure]) -> None:
    """Post the missing articles again: same Message-ID, body re-read and CRC-checked."""
    store, counters, config = work.store, work.counters, work.config
    counters.phase = "re-posting"
    transfer = await store.get(transfer_id)
    if transfer is None:
        return  # deleted meanwhile: its failures went with it
    files = await store.files(transfer_id)
    outcomes = await repost(work.runtime, store.manifests, transfer, files, failures)
    counters.reposted += sum(1 for o in outcomes.values() if o.kind == "posted")
    counters.claimed += sum(1 for o in outcomes.values() if o.kind == "claimed")
    crashpoints.reached("reposted")
    now = store.now()
    for f in failures:
        outcome = outcomes.get(f.part_key, Reposted("failed", "re-post: not attempted"))
        reply = outcome.reply
        checks = f.check_count + 1
        # after a 240 give the server its propagation delay; otherwise back off
        delay = config.delay if outcome.kind == "posted" else recheck_delay(config, checks)
        await _reschedule(
            work,
            f,
            repost_count=f.repost_count + 1,
            check_count=checks,
            next_at=now + delay,
            error=reply,
        )


def _not_found(f: Failure, checks: int) -> str:
    note = f.last_error or ""
    # the re-post's reply: the whole note after a re-post, or what an earlier "not found"
    # kept of it (its own "(N checks, M re-posts)" is not a reply)
    _, found, kept = note.partition("; last ")
    repost = kept if found else note if note.startswith("re-post") else ""
    text = f"{NOT_FOUND} ({checks} checks, {f.repost_count} re-posts)"
    return f"{text}; last {repost}" if repost else text
