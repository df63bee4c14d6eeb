"""`make run`, the README's first command, starts the server the way it was measured."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _server_command(**env: str) -> str:
    full = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    out = subprocess.run(["make", "-n", "run"], cwd=REPO, env=full, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    lines = [line for line in out.splitlines() if "streamlit run app.py" in line]
    assert len(lines) == 1, out
    return lines[0]


def test_server_gets_two_malloc_arenas():
    # benchmarks/live_soak.py: with glibc's default arenas the server's memory creeps up
    assert _server_command().startswith("MALLOC_ARENA_MAX=2 ")


def test_a_setting_of_ones_own_is_kept():
    assert _server_command(MALLOC_ARENA_MAX="4").startswith("MALLOC_ARENA_MAX=4 ")


def test_server_listens_on_loopback_unless_told_otherwise():
    assert "--server.address 127.0.0.1" in _server_command()
    out = subprocess.run(["make", "-n", "run", "ADDRESS=0.0.0.0"], cwd=REPO, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    assert "--server.address 0.0.0.0" in out


def test_the_server_watches_no_files():
    # read from the working folder `make run` starts in; watching .venv kept an idle server busy
    import tomllib

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none"
