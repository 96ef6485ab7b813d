"""The metrics file as node_exporter's textfile collector reads it."""

from __future__ import annotations

import os
import re
import stat
import threading
from pathlib import Path

import pytest

from daemon.metrics import LastSuccess, MetricsSnapshot, render_metrics, write_metrics

SNAPSHOT = MetricsSnapshot(
    runs_by_state={"posted": 40, "failed": 2, "queued": 1, "posting": 1},
    last_success=[
        LastSuccess(3, "101 Park Noord", 1717200000.0),
        LastSuccess(4, 'Park "Zuid"\\Dunes\nannex', 1717203600.5),
    ],
    provider_errors={("xero", "rate_limited"): 5, ("pms", "unavailable"): 1},
    authorisations={"active": 2, "error": 1},
    generated_at=1717210000.0,
)

_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def parse(text: str) -> tuple[dict[tuple[str, frozenset], float], dict[str, str]]:
    """A strict reader of text format 0.0.4: samples keyed by (name, labels), and TYPE lines.

    Fails on anything malformed: bad escapes, a sample without HELP/TYPE, a missing newline.
    """
    assert text.endswith("\n")
    samples: dict[tuple[str, frozenset], float] = {}
    types: dict[str, str] = {}
    helped: set[str] = set()
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            helped.add(line.split(" ")[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name in helped, f"TYPE before HELP for {name}"
            types[name] = kind
        else:
            m = _SAMPLE.fullmatch(line)
            assert m, f"malformed line {line!r}"
            name, raw_labels, value = m.groups()
            assert name in types, f"sample {name} without TYPE"
            labels: dict[str, str] = {}
            rest = raw_labels or ""
            while rest:
                lm = _LABEL.match(rest)
                assert lm, f"malformed labels {raw_labels!r}"
                labels[lm.group(1)] = _unescape(lm.group(2))
                rest = rest[lm.end() :]
            key = (name, frozenset(labels.items()))
            assert key not in samples, f"duplicate sample {key}"
            samples[key] = float(value)
    return samples, types


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_values_types_and_zero_filled_states() -> None:
    samples, types = parse(render_metrics(SNAPSHOT))
    assert types == {
        "bexsync_up": "gauge",
        "bexsync_metrics_generated_timestamp_seconds": "gauge",
        "bexsync_runs_total": "counter",
        "bexsync_runs_active": "gauge",
        "bexsync_last_success_timestamp_seconds": "gauge",
        "bexsync_provider_errors_total": "counter",
        "bexsync_authorisations": "gauge",
    }
    assert value(samples, "bexsync_up") == 1
    assert value(samples, "bexsync_metrics_generated_timestamp_seconds") == 1717210000.0
    assert value(samples, "bexsync_runs_total", state="posted") == 40
    assert value(samples, "bexsync_runs_total", state="failed") == 2
    assert value(samples, "bexsync_runs_total", state="needs_review") == 0  # alertable from day 1
    assert value(samples, "bexsync_runs_active", state="queued") == 1
    assert value(samples, "bexsync_runs_active", state="fetching") == 0
    assert ("bexsync_runs_total", frozenset({("state", "queued")})) not in samples
    assert (
        value(samples, "bexsync_provider_errors_total", provider="xero", kind="rate_limited") == 5
    )
    assert value(samples, "bexsync_authorisations", status="error") == 1
    assert value(samples, "bexsync_authorisations", status="inactive") == 0
    assert (
        value(
            samples,
            "bexsync_last_success_timestamp_seconds",
            configuration_id="3",
            administration="101 Park Noord",
        )
        == 1717200000.0
    )


def test_label_values_with_quotes_backslashes_and_newlines_round_trip() -> None:
    text = render_metrics(SNAPSHOT)
    assert 'administration="Park \\"Zuid\\"\\\\Dunes\\nannex"' in text
    samples, _ = parse(text)
    assert (
        value(
            samples,
            "bexsync_last_success_timestamp_seconds",
            configuration_id="4",
            administration='Park "Zuid"\\Dunes\nannex',
        )
        == 1717203600.5
    )


def test_official_parser_reads_the_file() -> None:
    parser = pytest.importorskip("prometheus_client.parser")
    families = {f.name: f for f in parser.text_string_to_metric_families(render_metrics(SNAPSHOT))}
    last = families["bexsync_last_success_timestamp_seconds"]
    admins = {s.labels["administration"]: s.value for s in last.samples}
    assert admins == {"101 Park Noord": 1717200000.0, 'Park "Zuid"\\Dunes\nannex': 1717203600.5}
    errors = families["bexsync_provider_errors"]  # counters are named without _total here
    assert errors.type == "counter"
    assert {(s.labels["provider"], s.labels["kind"]): s.value for s in errors.samples} == {
        ("xero", "rate_limited"): 5.0,
        ("pms", "unavailable"): 1.0,
    }


def test_shutdown_snapshot_reports_down() -> None:
    samples, _ = parse(render_metrics(MetricsSnapshot(up=False, generated_at=1.0)))
    assert value(samples, "bexsync_up") == 0


def test_file_is_world_readable_despite_umask_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "bexsync.prom"
    old = os.umask(0o077)
    try:
        write_metrics(target, SNAPSHOT)
        write_metrics(target, SNAPSHOT)
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["bexsync.prom"]
    assert target.read_text() == render_metrics(SNAPSHOT)


def test_a_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "bexsync.prom"
    big = MetricsSnapshot(
        runs_by_state={"posted": 1},
        last_success=[LastSuccess(i, f"administration {i}", 1.0e9 + i) for i in range(3000)],
        generated_at=1.0,
    )
    write_metrics(target, big)
    expected_size = len(render_metrics(big))
    stop = threading.Event()
    seen: list[int] = []

    broken: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            text = target.read_text()
            seen.append(len(text))
            try:
                parse(text)  # raises on a truncated file
            except AssertionError as exc:
                broken.append(f"{len(text)} bytes: {exc}")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(40):
            write_metrics(target, MetricsSnapshot(**{**big.__dict__, "generated_at": float(i)}))
    finally:
        stop.set()
        thread.join()
    assert broken == []
    assert len(seen) > 10
    assert set(seen) <= {expected_size, expected_size + 1, expected_size + 2}


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "bexsync.prom"
    write_metrics(target, SNAPSHOT)
    before = target.read_text()
    bad = MetricsSnapshot(last_success=[LastSuccess(1, "x", "soon")])  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError)):
        write_metrics(target, bad)
    assert target.read_text() == before
    assert os.listdir(tmp_path) == ["bexsync.prom"]
