"""Session-wide plugins for the whole suite: fuzz input counts and the planted-secret scan."""

from __future__ import annotations

import pytest

from tests.support.fuzz_counts import FuzzCountsPlugin
from tests.support.secret_scan import SecretScanPlugin


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(FuzzCountsPlugin(), "bexsync-fuzz-counts")
    config.pluginmanager.register(SecretScanPlugin(config), "bexsync-secret-scan")
