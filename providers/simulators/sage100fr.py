"""Demo entry point for ``sage100fr``: the Chift simulator with a Sage 100 local agent."""

from __future__ import annotations

import pathlib

from providers.simulators.chift import start_demo
from providers.simulators.demo import DemoProvider


async def demo_setup(workdir: pathlib.Path) -> DemoProvider:
    return await start_demo(workdir, "sage100fr")
