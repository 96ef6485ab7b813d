"""Daemon log lines as the journal and a sysadmin see them: priorities, ids, no secrets."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import providers
from daemon.logsetup import (
    bind,
    format_fields,
    log_context,
    log_sync_outcome,
    parse_level,
    setup_logging,
    stderr_is_journal,
)


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(buf: io.StringIO) -> list[str]:
    return buf.getvalue().splitlines()


def test_journal_lines_carry_sd_daemon_priorities_and_no_timestamp() -> None:
    buf = io.StringIO()
    setup_logging("debug", journald=True, stream=buf)
    log = logging.getLogger("daemon.scheduler")
    log.critical("disk full")
    log.error("post failed")
    log.warning("rate limited")
    log.info("started")
    log.debug("tick")
    assert lines(buf) == [
        "<2>daemon.scheduler: disk full",
        "<3>daemon.scheduler: post failed",
        "<4>daemon.scheduler: rate limited",
        "<6>daemon.scheduler: started",
        "<7>daemon.scheduler: tick",
    ]


def test_every_traceback_line_keeps_the_error_priority() -> None:
    buf = io.StringIO()
    setup_logging("info", journald=True, stream=buf)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("daemon.sync").exception("sync crashed")
    out = lines(buf)
    assert len(out) > 3
    assert all(line.startswith("<3>") for line in out)
    assert out[-1] == "<3>RuntimeError: boom"


def test_terminal_lines_are_timestamped_and_level_filtered() -> None:
    buf = io.StringIO()
    setup_logging("warning", journald=False, stream=buf)
    logging.getLogger("daemon.app").info("not shown")
    logging.getLogger("daemon.app").warning("shown")
    (line,) = lines(buf)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d WARNING daemon\.app: shown", line
    )


def test_journal_is_detected_from_journal_stream(tmp_path: Path) -> None:
    with (tmp_path / "stderr").open("w") as fake_stderr:
        st = os.fstat(fake_stderr.fileno())
        assert stderr_is_journal(fake_stderr, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        assert not stderr_is_journal(fake_stderr, {"JOURNAL_STREAM": f"{st.st_dev}:1"})
        assert not stderr_is_journal(fake_stderr, {})
        assert not stderr_is_journal(io.StringIO(), {"JOURNAL_STREAM": "1:2"})


def test_auto_detection_picks_the_journal_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (tmp_path / "stderr").open("w+") as fake_stderr:
        st = os.fstat(fake_stderr.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        setup_logging("info", stream=fake_stderr)
        logging.getLogger("daemon").error("x")
        fake_stderr.seek(0)
        assert fake_stderr.read() == "<3>daemon: x\n"


def test_bound_and_task_fields_are_appended_as_key_value() -> None:
    buf = io.StringIO()
    setup_logging("info", journald=True, stream=buf)
    log = bind(logging.getLogger("daemon.sync"), configuration_id=3)
    log.bind(run_id=17).info("fetching %d transactions", 120)
    with log_context(configuration_id=4, run_id=18):
        logging.getLogger("daemon.sync").info("posting")
    assert lines(buf) == [
        "<6>daemon.sync: fetching 120 transactions configuration_id=3 run_id=17",
        "<6>daemon.sync: posting configuration_id=4 run_id=18",
    ]


async def test_concurrent_sync_tasks_keep_their_own_ids() -> None:
    buf = io.StringIO()
    setup_logging("info", journald=True, stream=buf)
    log = logging.getLogger("daemon.sync")

    async def sync(run_id: int) -> None:
        with log_context(run_id=run_id):
            for step in range(3):
                log.info("step %d of run %d", step, run_id)
                await asyncio.sleep(0)

    await asyncio.gather(sync(1), sync(2))
    out = lines(buf)
    assert len(out) == 6
    for line in out:
        run = re.search(r"of run (\d)", line)
        assert run is not None
        assert line.endswith(f"run_id={run.group(1)}")


def test_field_values_never_break_the_line() -> None:
    text = format_fields({"a": 1, "b": 'say "hi"\nREADY=1', "c": None, "d": "x\\y"})
    assert text == 'a=1 b="say \\"hi\\"\\nREADY=1" d="x\\\\y"'
    assert "\n" not in text


@pytest.mark.parametrize(
    "message",
    [
        "token response {'access_token': 'AT-1234567', 'refresh_token': 'RT-7654321'}",
        'token response {"access_token": "AT-1234567", "refresh_token":"RT-7654321"}',
        "GET /callback?code=AT-1234567&state=ok then client_secret=RT-7654321",
        "headers Authorization: Bearer AT-1234567.RT-7654321",
        "login password=AT-1234567 api_key: RT-7654321",
    ],
)
def test_secrets_are_masked(message: str) -> None:
    buf = io.StringIO()
    setup_logging("debug", journald=True, stream=buf)
    logging.getLogger("providers.xero").debug(message)
    out = buf.getvalue()
    assert "AT-1234567" not in out
    assert "RT-7654321" not in out
    assert "***" in out


def test_non_secret_keys_are_left_alone() -> None:
    buf = io.StringIO()
    setup_logging("info", journald=True, stream=buf)
    logging.getLogger("daemon").info(
        "config client_secret_file=/etc/bexsync/xero token_url=https://x/token error_code=42"
    )
    assert "client_secret_file=/etc/bexsync/xero" in buf.getvalue()
    assert "token_url=https://x/token" in buf.getvalue()
    assert "error_code=42" in buf.getvalue()


def test_provider_redaction_hook_is_used_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    class Mask(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.msg = str(record.msg).replace("PMS-KEY-42", "[redacted]")
            return True

    installed: list[logging.Logger] = []

    def install_log_redaction(logger: logging.Logger) -> logging.Filter:
        installed.append(logger)
        return Mask()

    fake = types.ModuleType("providers.redact")
    fake.install_log_redaction = install_log_redaction  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "providers.redact", fake)
    monkeypatch.setattr(providers, "redact", fake, raising=False)
    buf = io.StringIO()
    setup_logging("info", journald=True, stream=buf)
    logging.getLogger("providers.bex").info("pms key PMS-KEY-42")
    assert installed == [logging.getLogger()]
    assert lines(buf) == ["<6>providers.bex: pms key [redacted]"]


def test_registered_secrets_are_masked_in_messages_fields_and_tracebacks() -> None:
    redact = pytest.importorskip("providers.redact")
    redact.register_secret("pms-key-0123456789")
    try:
        buf = io.StringIO()
        setup_logging("info", journald=True, stream=buf)
        log = bind(logging.getLogger("providers.bex"), note="pms-key-0123456789")
        log.info("connecting with %s", "pms-key-0123456789")
        try:
            raise ValueError("bad key pms-key-0123456789")
        except ValueError:
            log.exception("connect failed")
    finally:
        redact.forget_secrets()
    out = buf.getvalue()
    assert "0123456789" not in out
    assert "<6>providers.bex: connecting with *** note=***" in out
    assert "<3>ValueError: bad key ***" in out


def test_setup_is_idempotent() -> None:
    buf1, buf2 = io.StringIO(), io.StringIO()
    setup_logging("info", journald=True, stream=buf1)
    setup_logging("info", journald=True, stream=buf2)
    logging.getLogger("daemon").info("once")
    assert buf1.getvalue() == ""
    assert lines(buf2) == ["<6>daemon: once"]


def test_parse_level() -> None:
    assert parse_level("debug") == logging.DEBUG
    assert parse_level("WARNING") == logging.WARNING
    assert parse_level(logging.ERROR) == logging.ERROR
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        parse_level("loud")


RUN = {
    "id": 17,
    "configuration_id": 3,
    "period": "2024-05",
    "trigger": "schedule",
    "started_at": "2024-06-01T02:00:00+00:00",
    "finished_at": "2024-06-01T02:00:01.250000+00:00",
}


def test_one_line_per_sync_outcome() -> None:
    buf = io.StringIO()
    setup_logging("info", journald=True, stream=buf)
    log = logging.getLogger("daemon.sync")
    log_sync_outcome(
        log,
        {**RUN, "state": "posted", "entry_id": 9, "provider": "xero", "external_id": "MJ-1"},
    )
    log_sync_outcome(log, {**RUN, "state": "posted", "entry_id": None})
    log_sync_outcome(
        log,
        {
            **RUN,
            "state": "failed",
            "error": {
                "kind": "rejected",
                "provider": "xero",
                "message": 'Account "8000" is unknown\nat the provider',
            },
        },
    )
    log_sync_outcome(log, {**RUN, "state": "needs_review", "error": "no lookup at provider"})
    assert lines(buf) == [
        "<6>daemon.sync: sync posted configuration_id=3 run_id=17 period=2024-05 state=posted "
        "trigger=schedule provider=xero entry_id=9 external_id=MJ-1 duration_s=1.250",
        "<6>daemon.sync: sync done, no transactions configuration_id=3 run_id=17 period=2024-05 "
        "state=posted trigger=schedule duration_s=1.250",
        "<3>daemon.sync: sync failed configuration_id=3 run_id=17 period=2024-05 state=failed "
        'trigger=schedule duration_s=1.250 error_kind=rejected error_provider=xero error="Account '
        '\\"8000\\" is unknown\\nat the provider"',
        "<4>daemon.sync: sync needs_review configuration_id=3 run_id=17 period=2024-05 "
        'state=needs_review trigger=schedule duration_s=1.250 error="no lookup at provider"',
    ]


def test_sync_outcome_keeps_bound_fields_and_masks_secrets_in_errors() -> None:
    buf = io.StringIO()
    setup_logging("info", journald=False, stream=buf)
    log = bind(logging.getLogger("daemon.sync"), authorisation_id=5)
    log_sync_outcome(
        log, {"id": 1, "state": "failed", "error": "token refresh_token=RT-7654321 rejected"}
    )
    (line,) = lines(buf)
    assert "authorisation_id=5" in line
    assert "run_id=1" in line
    assert "RT-7654321" not in line
    assert " ERROR " in line
