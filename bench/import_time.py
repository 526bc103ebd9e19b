"""Median wall time of `import X` in fresh interpreters: envtorch against gymnasium and openenv.

Usage: python bench/import_time.py [--runs N]
Peers are timed with their own interpreter when PEERS_PYTHON names one (e.g. a throwaway venv's
python), else with this one; a peer that is not installed is reported as such.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

GOAL_SECONDS = 0.3


def median_import_seconds(python: str, module: str, runs: int) -> float | None:
    """Median wall time of `python -c "import module"`, or None when it is not importable."""
    probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True)
    if probe.returncode != 0:
        return None
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([python, "-c", f"import {module}"], check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    peers_python = os.environ.get("PEERS_PYTHON", sys.executable)
    rows = [
        ("python (no import)", sys.executable, "sys"),
        ("envtorch", sys.executable, "envtorch"),
        ("envtorch.cli", sys.executable, "envtorch.cli"),
        ("gymnasium", peers_python, "gymnasium"),
        ("openenv (client)", peers_python, "openenv.core"),
    ]
    results = {
        name: median_import_seconds(python, module, args.runs) for name, python, module in rows
    }
    ours = results["envtorch"]
    print(f"{'module':<22}{'median s':>10}{'vs envtorch':>14}")
    for name, seconds in results.items():
        if seconds is None:
            print(f"{name:<22}{'not installed':>10}")
            continue
        print(f"{name:<22}{seconds:>10.3f}{seconds / ours:>13.1f}x")
    verdict = "met" if ours <= GOAL_SECONDS else "MISSED"
    print(f"goal: import envtorch <= {GOAL_SECONDS} s: {verdict} ({ours:.3f} s)")


if __name__ == "__main__":
    main()
