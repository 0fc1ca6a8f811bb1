"""bench/door_bench.py keeps working: a few admissions through the real door, figures printed."""

from __future__ import annotations

import re

import pytest

from bench.door_bench import main


async def test_a_small_door_run_prints_both_figures(capsys: pytest.CaptureFixture) -> None:
    """20 admissions on a fresh database print a p50 and a p99 in milliseconds."""
    await main(20)
    assert re.fullmatch(r"door \(n=20\) p50 \d+\.\d\d ms, p99 \d+\.\d\d ms\n", capsys.readouterr().out)
