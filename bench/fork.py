"""Forking an episode against replaying it: N branches of one sandboxed episode holding 50 MiB.

Usage: python bench/fork.py [--quick]
An episode runs a prefix of steps that leaves about 50 MiB of Python objects in its namespace.
N branches of it are then made two ways, in the same run: `SandboxSession.fork(N)` (copy-on-write
copies, each confined like a fresh session), and the peer, N fresh sessions that each replay the
prefix. Reported per branch: latency (p50 over rounds), the memory each branch adds (its private
pages, USS: a fork's pages shared copy-on-write with the others are not counted), and its PSS
(shared pages split among the processes sharing them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from envtorch.sandbox import Sandbox, SandboxLimits, SandboxSession

PREFIX = [
    "import random\nrandom.seed(0)\nrows = []",
    "rows += [('row %08d ' % i) * 6 for i in range(160_000)]",
    "rows += [('row %08d ' % i) * 6 for i in range(160_000, 320_000)]",
    "index = {row[:12]: n for n, row in enumerate(rows[::64])}\nlen(rows)",
]
LIMITS = SandboxLimits(memory=4 << 30, address_space=8 << 30, processes=256)
GOAL_FORK_MS = 5.0


def memory_bytes(pid: int) -> tuple[int, int]:
    """USS (private pages) and PSS (shared pages split among those sharing them) of a process."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value) * 1024
    return fields["Private_Clean"] + fields["Private_Dirty"], fields["Pss"]


def total_memory(sessions: list[SandboxSession]) -> tuple[int, int]:
    measured = [memory_bytes(session.pid) for session in sessions]
    return sum(uss for uss, _ in measured), sum(pss for _, pss in measured)


def run_prefix(session: SandboxSession) -> None:
    for code in PREFIX:
        result = session.execute(code, timeout=60)
        assert result.success, result.exception


def fork_round(parent: SandboxSession, branches: int) -> tuple[float, tuple[int, int]]:
    """Seconds to fork `branches` copies, and the USS and PSS the copies hold together."""
    start = time.perf_counter()
    copies = parent.fork(branches)
    elapsed = time.perf_counter() - start
    for copy in copies:
        assert copy.execute("len(rows), rows[-1][:12]").value == [320_000, "row 00319999"]
    memory = total_memory(copies)
    for copy in copies:
        copy.close()
    return elapsed, memory


def replay_round(sandbox: Sandbox, branches: int) -> tuple[float, tuple[int, int]]:
    """Seconds to build `branches` branches by replaying the prefix in fresh sessions, and the
    USS and PSS they hold together."""
    start = time.perf_counter()
    sessions = []
    for _ in range(branches):
        session = sandbox.open()
        run_prefix(session)
        sessions.append(session)
    elapsed = time.perf_counter() - start
    memory = total_memory(sessions)
    for session in sessions:
        session.close()
    return elapsed, memory


def per_branch_mib(
    rounds: list[tuple[float, tuple[int, int]]], branches: int
) -> tuple[float, float]:
    uss = statistics.median(memory[0] for _, memory in rounds)
    pss = statistics.median(memory[1] for _, memory in rounds)
    return uss / branches / 2**20, pss / branches / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    quick = parser.parse_args().quick
    rounds = 3 if quick else 7
    widths = (1, 4) if quick else (1, 4, 8)
    with Sandbox(LIMITS) as sandbox:
        sandbox.open().close()
        parent = sandbox.open()
        run_prefix(parent)
        held = parent.memory_in_use()
        print(f"episode: {len(PREFIX)} prefix steps, {held / 2**20:.0f} MiB anonymous memory")
        print(
            f"{'branches':>8} {'fork ms':>8} {'replay ms':>10} {'speedup':>8} "
            f"{'fork USS/PSS MiB':>17} {'replay USS/PSS MiB':>19}   (per branch)"
        )
        fork_p50 = {}
        for branches in widths:
            forks = [fork_round(parent, branches) for _ in range(rounds)]
            replays = [replay_round(sandbox, branches) for _ in range(max(1, rounds // 3))]
            fork_ms = statistics.median(seconds for seconds, _ in forks) * 1000 / branches
            replay_ms = statistics.median(seconds for seconds, _ in replays) * 1000 / branches
            fork_uss, fork_pss = per_branch_mib(forks, branches)
            replay_uss, replay_pss = per_branch_mib(replays, branches)
            fork_p50[branches] = fork_ms
            print(
                f"{branches:>8} {fork_ms:>8.1f} {replay_ms:>10.1f} {replay_ms / fork_ms:>7.0f}x "
                f"{fork_uss:>8.1f} /{fork_pss:>7.1f} {replay_uss:>10.1f} /{replay_pss:>7.1f}"
            )
        parent.close()
    widest = max(fork_p50)
    verdict = "met" if fork_p50[widest] <= GOAL_FORK_MS else "MISSED"
    print(
        f"goal: fork p50 <= {GOAL_FORK_MS:.0f} ms per branch ({widest} branches): "
        f"{fork_p50[widest]:.1f} ms, {verdict}"
    )
    print(f"machine load while measuring (1-minute average): {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
