"""The CLI starts fast: importing ``vadbench.cli`` pulls in no heavy library, and ``vadbench --help`` runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "pandas", "numpy", "sklearn", "scipy", "matplotlib", "open_clip", "transformers", "av")
#: ``vadbench --help`` must start in < 1 s (BRIEF); the test allows slack for a loaded 2-core CI machine.
HELP_BUDGET_S = 3.0


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "HF_HUB_OFFLINE": "1"}


def test_importing_the_cli_imports_no_heavy_library():
    code = (
        "import json, sys; import vadbench.cli; "
        f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == [], f"`import vadbench.cli` imports heavy modules at top level: {loaded}"


def test_help_runs_fast_and_lists_leaderboard_and_regress():
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "vadbench", "--help"], capture_output=True, text=True, env=_env(), timeout=60
    )
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    assert "leaderboard" in proc.stdout and "regress" in proc.stdout
    assert elapsed < HELP_BUDGET_S, f"`vadbench --help` took {elapsed:.2f} s"


def test_leaderboard_and_regress_help():
    for command in ("leaderboard", "regress"):
        proc = subprocess.run(
            [sys.executable, "-m", "vadbench", command, "--help"],
            capture_output=True,
            text=True,
            env={**_env(), "COLUMNS": "200"},
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert "--results" in proc.stdout
