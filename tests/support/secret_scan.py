"""Fail the test session when a planted secret shows up anywhere a test run prints or writes.

Every demo and simulator credential ends in ``PLANTED_MARK`` (providers/simulators/planted.py),
so a leak can be found without knowing the random values. The plugin scans every test report's
captured stdout, stderr and log sections and its longrepr (the traceback), and at the end the
log and metrics files the run left under pytest's temporary directory (child daemons' logs,
``*.prom`` files). A hit names the test (or the file) but never prints the secret, and turns the
session's exit status into a failure even when every test passed.

Under pytest-xdist each worker scans its own reports and files and hands its leaks to the
controller through ``workeroutput``; the controller also scans the reports the workers forward
and its own basetemp (which holds the workers'), and is the one that fails the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from providers.simulators.planted import planted_in

WORKER_OUTPUT_KEY = "bexsync_secret_leaks"

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


def file_leaks(root: Path, names_from: Path | None = None) -> list[Leak]:
    """Output files under ``root`` (a run's basetemp) that hold a planted secret, named
    relative to ``names_from`` (default ``root``)."""
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
            name = str(path.relative_to(names_from or root))
            leaks.append(Leak(name, "this file the run wrote"))
    return leaks


class SecretScanPlugin:
    """Registered from tests/conftest.py; see the module docstring."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.found: dict[Leak, None] = {}  # ordered, and a leak seen twice is named once
        self.reports = 0

    @property
    def leaks(self) -> list[Leak]:
        return list(self.found)

    def _add(self, leaks: list[Leak]) -> None:
        self.found.update(dict.fromkeys(leaks))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.reports += 1
        self._add(report_leaks(report))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """xdist controller: a worker finished; take the leaks it saw."""
        output = getattr(node, "workeroutput", None) or {}
        self._add([Leak(test, where) for test, where in output.get(WORKER_OUTPUT_KEY, [])])

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        workeroutput = getattr(self.config, "workeroutput", None)
        factory: Any = getattr(self.config, "_tmp_path_factory", None)
        basetemp = getattr(factory, "_basetemp", None)
        if basetemp is not None and Path(basetemp).is_dir():
            # A worker's basetemp is inside the controller's: name files as the controller does.
            names_from = Path(basetemp).parent if workeroutput is not None else None
            self._add(file_leaks(Path(basetemp), names_from))
        if workeroutput is not None:  # an xdist worker: the controller reports and fails
            workeroutput[WORKER_OUTPUT_KEY] = [(leak.test, leak.where) for leak in self.found]
            return
        if self.found and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.found:
            return
        terminalreporter.write_sep("=", "PLANTED SECRETS LEAKED", red=True, bold=True)
        for leak in self.found:
            terminalreporter.write_line(str(leak))
