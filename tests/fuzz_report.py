"""``python -m tests.fuzz_report [--scale N]``: run every fuzz test with N times its examples
and print how many inputs each target tried (the same table ``pytest -q`` prints).

Exit status is pytest's: 0 when no input crashed anything or changed state on a refusal.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FUZZ_TESTS = [
    "tests/test_fuzz_daemon.py",
    "tests/test_rpc_fuzz.py",
    "tests/test_fuzz_rules.py",
    "tests/test_fuzz_pms.py",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz_report", description=__doc__)
    parser.add_argument("--scale", type=float, default=10, help="examples multiplier (10)")
    args = parser.parse_args(argv)
    os.environ["BEXSYNC_FUZZ_SCALE"] = str(args.scale)
    os.chdir(ROOT)
    started = time.monotonic()
    code = pytest.main(["-q", "-p", "no:cacheprovider", "--timeout", "3600", *FUZZ_TESTS])
    print(f"fuzz scale {args.scale:g}: {time.monotonic() - started:.0f} s, pytest exit {code}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
