"""Median wall time of `import X` and of `envtorch ... --help` in fresh interpreters.

Usage: python bench/import_time.py [--runs N]
Peers (gymnasium, openenv) are timed with the interpreter named by PEERS_PYTHON (e.g. a
throwaway venv's python), else with this one; a peer that is not installed is reported as such.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

GOAL_SECONDS = 0.3


def median_seconds(command: list[str], runs: int) -> float | None:
    """Median wall time of running `command`, or None when it fails."""
    if subprocess.run(command, capture_output=True).returncode != 0:
        return None
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    ours = sys.executable
    peers = os.environ.get("PEERS_PYTHON", sys.executable)
    from envtorch.cli import SUBCOMMANDS

    rows = {
        "python -c pass": [ours, "-c", "pass"],
        "import envtorch": [ours, "-c", "import envtorch"],
        "import gymnasium": [peers, "-c", "import gymnasium"],
        "import openenv (client)": [peers, "-c", "import openenv.core"],
        "envtorch --help": [ours, "-m", "envtorch", "--help"],
    }
    for name in SUBCOMMANDS:
        rows[f"envtorch {name} --help"] = [ours, "-m", "envtorch", name, "--help"]
    results = {name: median_seconds(command, args.runs) for name, command in rows.items()}
    reference = results["import envtorch"] or float("nan")
    print(f"{'command':<28}{'median s':>10}{'vs import envtorch':>20}{'goal <= 0.3 s':>15}")
    for name, seconds in results.items():
        if seconds is None:
            print(f"{name:<28}{'not installed':>10}")
            continue
        ours_row = "envtorch" in name
        verdict = ("met" if seconds <= GOAL_SECONDS else "MISSED") if ours_row else ""
        print(f"{name:<28}{seconds:>10.3f}{seconds / reference:>19.1f}x{verdict:>15}")


if __name__ == "__main__":
    main()
