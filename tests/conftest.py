"""Shared test fixtures: real folders in tmp dirs, the bundled seeds and gold annotations."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
GOLD = Path(__file__).resolve().parent / "gold"


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory, monkeypatch):
    """Every test gets its own state folder, so no test touches the developer's .digest/."""
    monkeypatch.setenv("DIGEST_HOME", str(tmp_path_factory.mktemp("state")))
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)


@pytest.fixture
def seed_files() -> list[Path]:
    return sorted(SEEDS.glob("*.txt"))


def pytest_unconfigure(config):
    """A suite that passed but cannot exit (a thread or worker process left waiting) would
    hold CI until its time limit with nothing to show: after 5 minutes, print every
    thread's stack and exit with status 1 instead."""
    import faulthandler

    faulthandler.dump_traceback_later(300, exit=True)
