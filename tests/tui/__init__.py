"""Tests of the Textual TUI (Pilot flows and snapshots)."""
