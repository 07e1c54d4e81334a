"""Finalizing a verified transfer: the post-upload hook, then cleanup.

Runs only once a transfer is verified. In order: the hook (an argument list,
never a shell, with a timeout and retries), deleting the originals if the
transfer's policy says so (only files still as they were posted), deleting PAR2
files postie generated (never a user's own: those are ``data`` files), then
dropping the manifest. A step that fails stops the rest, so everything needed
for recovery is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec

from postie import errors
from postie.config import HookConfig
from postie.errors import ManifestError
from postie.manifest.storage import ManifestStorage
from postie.store.api import Cleanup, FileRole, Transfer, TransferFile

log = logging.getLogger(__name__)

OUTPUT_TAIL = 400  # characters of a failed hook's output in its error


class FinalizeFailed(errors.PostieError):
    """The hook or a cleanup step failed; the transfer keeps everything."""

    def __init__(self, message: str, *, attempts: int = 0) -> None:
        super().__init__(message)
        self.attempts = attempts


class Finalized(msgspec.Struct, frozen=True):
    """What finalizing a transfer did."""

    hook_attempts: int
    deleted_originals: int
    deleted_par2: int


def hook_fields(transfer: Transfer) -> dict[str, str]:
    """What the hook's placeholders stand for."""
    return {
        "nzb": transfer.nzb_path or "",
        "name": transfer.name,
        "source": transfer.roots[0] if transfer.roots else "",
        "id": str(transfer.id),
    }


def hook_argv(hook: HookConfig, fields: Mapping[str, str]) -> list[str]:
    return [arg.format_map(fields) for arg in hook.command]


async def run_hook(hook: HookConfig, fields: Mapping[str, str]) -> int:
    """Run the hook until it exits 0; return the attempts made, or raise FinalizeFailed."""
    argv = hook_argv(hook, fields)
    last = ""
    attempts = 0
    for attempt in range(hook.retries + 1):
        if attempt:
            log.warning(
                "post-upload hook failed (%s); trying again in %g s", last, hook.retry_delay
            )
            await asyncio.sleep(hook.retry_delay)
        attempts += 1
        try:
            code, output = await _run(argv, hook.timeout)
        except OSError as exc:
            last = f"cannot run {argv[0]}: {exc.strerror or exc}"
            continue
        except TimeoutError:
            last = f"timed out after {hook.timeout:g} s"
            continue
        if code == 0:
            log.info("post-upload hook %s ran (attempt %d)", argv[0], attempts)
            return attempts
        tail = output.decode("utf-8", "replace").strip()[-OUTPUT_TAIL:]
        last = f"exit status {code}" + (f": {tail}" if tail else "")
    raise FinalizeFailed(
        f"the post-upload hook {argv[0]} failed {attempts} times: {last}", attempts=attempts
    )


async def _run(argv: Sequence[str], timeout: float) -> tuple[int, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a timeout kills the hook's children too
    )
    try:
        async with asyncio.timeout(timeout):
            output, _ = await proc.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, output


async def finalize(
    transfer: Transfer,
    files: Sequence[TransferFile],
    hook: HookConfig,
    *,
    manifests: ManifestStorage,
    move_to: Path | None = None,
) -> Finalized:
    """Hook, cleanup (originals deleted, or moved under ``move_to``), manifest (from
    ``manifests``, where the store keeps them): see the module documentation."""
    attempts = await run_hook(hook, hook_fields(transfer)) if hook.command else 0
    try:
        originals, par2 = await asyncio.to_thread(_cleanup, transfer, files, move_to)
        try:
            await manifests.delete(transfer.manifest_path)
        except ManifestError as exc:
            raise FinalizeFailed(str(exc)) from None
    except FinalizeFailed as exc:
        exc.attempts = attempts
        raise
    return Finalized(attempts, originals, par2)


def _cleanup(
    transfer: Transfer, files: Sequence[TransferFile], move_to: Path | None
) -> tuple[int, int]:
    originals = par2 = 0
    for row in files:
        if row.cleanup != Cleanup.DELETE:
            continue
        path = row.source_path
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise FinalizeFailed(f"cannot delete {os.fsdecode(path)}: {exc.strerror}") from None
        if st.st_size != row.size or st.st_mtime_ns != row.mtime_ns:
            log.warning("%s changed since it was posted; not deleting it", os.fsdecode(path))
            continue
        if move_to is not None and row.role == FileRole.DATA:
            target = move_to / transfer.name / row.name
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(path, target)
            except OSError as exc:
                raise FinalizeFailed(
                    f"cannot move {os.fsdecode(path)} to {target}: {exc.strerror or exc}"
                ) from None
            originals += 1
            continue
        try:
            path.unlink()
        except OSError as exc:
            raise FinalizeFailed(f"cannot delete {os.fsdecode(path)}: {exc.strerror}") from None
        if row.role == FileRole.PAR2:
            par2 += 1
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # the job's PAR2 folder, once empty
        else:
            originals += 1
    return originals, par2
