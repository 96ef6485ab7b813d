"""Fail the test session when a planted secret shows up anywhere a test run prints or writes.

Every demo and simulator credential ends in ``PLANTED_MARK`` (providers/simulators/planted.py),
so a leak can be found without knowing the random values. The plugin scans every test report's
captured stdout, stderr and log sections and its longrepr (the traceback), and at the end the
log and metrics files the run left under pytest's temporary directory (child daemons' logs,
``*.prom`` files). A hit names the test (or the file) but never prints the secret, and turns the
session's exit status into a failure even when every test passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from providers.simulators.planted import planted_in

SCANNED_SUFFIXES = (".log", ".prom", ".out", ".err")
"""Files under the run's temporary directory that hold output rather than credentials."""
MAX_FILE_BYTES = 20_000_000


@dataclass(frozen=True)
class Leak:
    test: str
    where: str

    def __str__(self) -> str:
        return f"{self.test}: a planted secret appears in {self.where}"


def report_leaks(report: pytest.TestReport) -> list[Leak]:
    """Every place in one test report (captured sections, traceback) holding a planted secret."""
    leaks = [
        Leak(report.nodeid, f"'{title}' ({report.when})")
        for title, content in report.sections
        if planted_in(content)
    ]
    if report.longrepr is not None and planted_in(report.longreprtext):
        leaks.append(Leak(report.nodeid, f"the traceback of its {report.when} phase"))
    return leaks


def file_leaks(root: Path) -> list[Leak]:
    """Output files under ``root`` (a run's basetemp) that hold a planted secret."""
    leaks: list[Leak] = []
    for path in sorted(root.rglob("*")):
        if path.suffix not in SCANNED_SUFFIXES or path.is_symlink() or not path.is_file():
            continue
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if planted_in(text):
            leaks.append(Leak(str(path.relative_to(root)), "this file the run wrote"))
    return leaks


class SecretScanPlugin:
    """Registered from tests/conftest.py; see the module docstring."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.leaks: list[Leak] = []
        self.reports = 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.reports += 1
        self.leaks.extend(report_leaks(report))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        factory: Any = getattr(self.config, "_tmp_path_factory", None)
        basetemp = getattr(factory, "_basetemp", None)
        if basetemp is not None and Path(basetemp).is_dir():
            self.leaks.extend(file_leaks(Path(basetemp)))
        if self.leaks and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.leaks:
            return
        terminalreporter.write_sep("=", "PLANTED SECRETS LEAKED", red=True, bold=True)
        for leak in self.leaks:
            terminalreporter.write_line(str(leak))
