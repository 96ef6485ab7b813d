"""Simulators of every external API, served over real HTTP on 127.0.0.1 for the demo and tests."""
