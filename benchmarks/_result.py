"""The one summary line every benchmark ends with, so ``make bench`` can collect them.

Format: ``RESULT <bench>: <metric>=<value> baseline=<value> ratio=<r>x goal=<goal> MET|MISSED``
followed by optional ``key=value`` extras. The ratio is always against a baseline measured in
the same run; the goal is DESIGN.md's budget (absolute or a ratio).
"""

from __future__ import annotations


def result(
    bench: str,
    metric: str,
    value: str,
    baseline: str,
    ratio: float,
    goal: str,
    met: bool,
    **extra: str,
) -> str:
    """Print and return the RESULT line."""
    extras = "".join(f" {key}={val}" for key, val in extra.items())
    line = (
        f"RESULT {bench}: {metric}={value} baseline={baseline} ratio={ratio:.2f}x "
        f"goal={goal} {'MET' if met else 'MISSED'}{extras}"
    )
    print(line, flush=True)
    return line
