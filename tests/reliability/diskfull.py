"""Disk full while the run's result is committed, then space freed and the daemon restarted.

Runs as its own process (``python -m tests.reliability.diskfull PROVIDER N METHOD DIR OUT``) so
that the mount or the file-size limit belongs to it alone:

- ``tmpfs``: the state dir is a small tmpfs (root, mount permitted); the moment the provider has
  accepted the entry, a filler file takes every free byte, so the SQLite commit of the result
  (entry, run ``posted``, notification) fails with "database or disk is full".
- ``rlimit_fsize``: no mount possible; at the same moment this process's RLIMIT_FSIZE drops to one
  byte, so every write into the database files fails (EFBIG) the same way.

Then the space comes back, the daemon is stopped and started again on the same state dir, and
the exactly-once recovery must settle the run: the entry found at the provider, recorded once.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import re
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from daemon.engine import recovery
from tests.reliability.matrix import (
    ScenarioResult,
    answering,
    first_outcome,
    last_note_id,
    settle_and_count,
    start_run,
    wait_settled,
)
from tests.reliability.rig import Rig, short_http_timeouts
from tests.support.waiting import until

TMPFS_SIZE = "16m"
CHUNK = b"\0" * (64 * 1024)


class DiskFiller:
    """Takes the free space of the state dir away, and gives it back."""

    def __init__(self, method: str, state_dir: Path) -> None:
        self.method = method
        self.filler = state_dir / "filler.bin"
        self._limit = resource.getrlimit(resource.RLIMIT_FSIZE)
        self.full = False

    def fill(self) -> None:
        if self.method == "rlimit_fsize":
            resource.setrlimit(resource.RLIMIT_FSIZE, (1, self._limit[1]))
        else:
            fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                for size in (len(CHUNK), 4096, 512, 1):
                    with contextlib.suppress(OSError):
                        while True:
                            os.write(fd, CHUNK[:size])
            finally:
                os.close(fd)
        self.full = True

    def free(self) -> None:
        if self.method == "rlimit_fsize":
            resource.setrlimit(resource.RLIMIT_FSIZE, self._limit)
        else:
            with contextlib.suppress(FileNotFoundError):
                self.filler.unlink()
        self.full = False


def mount_tmpfs(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "tmpfs", str(path)],
        check=True,
        capture_output=True,
    )


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


async def arm(rig: Rig, filler: DiskFiller) -> None:
    """Fill the disk right after the provider accepted the entry (test-side wrapper around this
    daemon's provider object; the next daemon gets a fresh, unwrapped one)."""
    assert rig.app is not None
    provider = await rig.app.providers.provider_for(rig.auth_id)
    original = provider.post_entry

    async def post_entry(entry: Any, key: str) -> Any:
        posted = await original(entry, key)
        if posted.status == "posted" and not filler.full:
            filler.fill()
        return posted

    provider.post_entry = post_entry  # type: ignore[method-assign]


@contextlib.contextmanager
def errors_logged() -> Iterator[list[str]]:
    """The messages of the daemon's WARNING and ERROR records while the block runs (a posting
    whose result could not be committed is a warning: the run is looked up again, not failed)."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler, logger = Collect(logging.WARNING), logging.getLogger("bexsync")
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


async def scenario(rig: Rig, filler: DiskFiller, i: int) -> ScenarioResult:
    period = rig.next_period()
    before_notes = await last_note_id(rig)
    await arm(rig, filler)
    with errors_logged() as errors:
        run_id = await start_run(rig, period)
        assert run_id is not None
        # Bounded waits that do not fail here: if the disk never filled or the commit did not
        # fail, the result's notes say so.
        with contextlib.suppress(AssertionError):
            await until(lambda: filler.full, "the disk to fill", 60)
        injected = int(filler.full)
        # The commit fails: wait for the engine's warning about this run, then look at the run.
        about_the_run = re.compile(rf"\brun {run_id}\b")
        if injected:
            with contextlib.suppress(AssertionError):
                await until(
                    lambda: any(about_the_run.search(m) for m in errors),
                    f"the engine's warning about run {run_id}",
                    60,
                )
    during = await rig.call("syncs.get", {"run_id": run_id})
    alive = await answering(rig)
    filler.free()
    restart = i % 2 == 1
    if restart:
        await rig.restart_daemon()
    first = await wait_settled(rig, run_id)
    what = (
        f"disk full ({filler.method}) when the result is committed; the run read "
        f"{during['state']!r} while full; space freed, "
        + ("daemon restarted" if restart else "no restart")
    )
    result = await first_outcome(
        rig, first, fault="disk_full", iteration=i, period=period, what=what, injected=injected,
        before_notes=before_notes, answered=alive, method=filler.method,
    )  # fmt: skip
    if during["state"] == "posted":
        result.notes.append("the commit did not fail: the disk was not full enough")
    await settle_and_count(rig, result)
    return result


async def run(provider: str, iterations: int, method: str, workdir: Path) -> list[ScenarioResult]:
    # The daemon looks an unrecorded result up again after recovery.RECOVERY_RETRY (30 s); the
    # scenarios that do not restart wait for that, so it is shortened here (test-side).
    recovery.RECOVERY_RETRY = 0.5
    rig = Rig(provider, workdir)
    if method == "tmpfs":
        mount_tmpfs(rig.state_dir)
    filler = DiskFiller(method, rig.state_dir)
    results = []
    try:
        with short_http_timeouts():
            async with rig:
                for i in range(iterations):
                    results.append(await scenario(rig, filler, i))
    finally:
        filler.free()
        if method == "tmpfs":
            umount(rig.state_dir)
    return results


def main(argv: list[str]) -> None:
    provider, iterations, method, workdir, out = argv
    results = asyncio.run(run(provider, int(iterations), method, Path(workdir)))
    Path(out).write_text(json.dumps([r.as_dict() for r in results]))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except OSError as exc:  # e.g. the mount refused after all
        print(f"diskfull: {exc} ({errno.errorcode.get(exc.errno or 0, '?')})", file=sys.stderr)
        sys.exit(1)
    os._exit(0)
