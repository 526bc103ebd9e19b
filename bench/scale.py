"""Many episodes per machine: 10 -> 100 -> 1,000 concurrent sandboxed episodes over the wire.

One `envtorch serve python` (LocalProcessProvider, its default limits but `IDLE_TIMEOUT`) holds
every episode; one client process keeps them all open over WebSockets (AsyncEnvClient). At each
level the episodes open (reset) up to that count, then for `--seconds` each one waits a think
time (the model, `--think` seconds on average, jittered) and steps a trivial action whose value
names the episode and the step, so a reply routed to the wrong episode is caught. Printed per
level: p50/p99 step latency, steps/s, memory per episode (PSS of the server's whole process
tree, sandboxes included, divided by the episodes), the CPU of the server process and of this
client (share of one core), the server's threads and fds after the level, the seconds it took to
open the level's new episodes, and the goals at the top level as met/MISSED. Once a level's
episodes are open, this client freezes its objects out of its garbage collector's passes, whose
pauses (up to 150 ms with 1,000 clients on a loaded machine) would otherwise count as step
latency of the server. No peer runs here:
none holds sandboxed episodes at this count on this machine (a container per episode starts in
about 1 s and holds tens of MiB).

    .venv/bin/python bench/scale.py [--levels 10,100,1000] [--seconds 20] [--think 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import resource
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from envtorch.client import AsyncEnvClient
from envtorch.envs.python import CodeAction, PythonEnv
from envtorch.providers import LocalProcessProvider

GOAL_P99_MS = 50.0
GOAL_TOTAL_GIB = 4.0
OPENING_AT_ONCE = 16
IDLE_TIMEOUT = 3600
"""The server's idle timeout here: its default (300 s) would reap the first episodes while the
last of 1,000 open on a loaded machine. Every other limit is the server's default."""


@dataclass
class Level:
    """What one level measured."""

    episodes: int
    latencies: list[float] = field(default_factory=list)
    answered: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    open_seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    pss_bytes: int = 0
    threads: int = 0
    fds: int = 0


def descendants(root: int) -> list[int]:
    """`root` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        found.append(pid)
        frontier.extend(children.get(pid, []))
    return found


def pss(pid: int) -> int:
    """Proportional set size of one process in bytes (0 when it is gone or unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


async def open_episodes(url: str, count: int, clients: list[AsyncEnvClient]) -> None:
    """Open episodes until `count` are open, `OPENING_AT_ONCE` at a time."""
    gate = asyncio.Semaphore(OPENING_AT_ONCE)

    async def open_one() -> None:
        async with gate:
            client = AsyncEnvClient(url, PythonEnv, timeout=300)
            await client.reset()
            clients.append(client)

    await asyncio.gather(*(open_one() for _ in range(count - len(clients))))


async def stepping(
    number: int, client: AsyncEnvClient, level: Level, think: float, until: float
) -> None:
    """Think, step, check the reply, until the level's time is up."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(random.uniform(0, think))
    step = 0
    while loop.time() < until:
        tag = number * 1_000_000 + step
        start = time.perf_counter()
        try:
            observation = await client.step(CodeAction(code=f"{tag}"))
        except Exception as error:
            level.errors.append(f"episode {number}: {type(error).__name__}: {error}")
            return
        level.latencies.append(time.perf_counter() - start)
        if observation.value != tag:
            level.errors.append(f"episode {number} got {observation.value!r} for {tag}")
            return
        level.answered.add(number)
        step += 1
        await asyncio.sleep(think * random.uniform(0.5, 1.5))


async def run_level(
    server_pid: int, url: str, clients: list[AsyncEnvClient], level: Level, args: argparse.Namespace
) -> None:
    start = time.perf_counter()
    await open_episodes(url, level.episodes, clients)
    level.open_seconds = time.perf_counter() - start
    gc.collect()
    gc.freeze()
    cpu_before, start = cpu_seconds(server_pid), time.perf_counter()
    client_before = time.process_time()
    until = asyncio.get_running_loop().time() + args.seconds
    await asyncio.gather(
        *(stepping(n, client, level, args.think, until) for n, client in enumerate(clients))
    )
    level.seconds = time.perf_counter() - start
    level.server_cpu = (cpu_seconds(server_pid) - cpu_before) / level.seconds
    level.client_cpu = (time.process_time() - client_before) / level.seconds
    level.pss_bytes = sum(pss(pid) for pid in descendants(server_pid))
    level.threads = status_field(server_pid, "Threads")
    level.fds = len(os.listdir(f"/proc/{server_pid}/fd"))


def report(level: Level) -> None:
    latencies = sorted(level.latencies) or [float("nan")]
    p50 = statistics.median(latencies) * 1e3
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3
    per_episode = level.pss_bytes / level.episodes / 2**20
    print(
        f"{level.episodes:>8} {len(level.answered):>8} {p50:>7.2f} {p99:>8.2f}"
        f" {len(level.latencies) / level.seconds:>8.0f} {per_episode:>8.2f}"
        f" {level.pss_bytes / 2**30:>7.2f} {level.server_cpu * 100:>6.0f}%"
        f" {level.client_cpu * 100:>6.0f}%"
        f" {level.threads:>7} {level.fds:>6} {level.open_seconds:>7.1f}",
        flush=True,
    )


def goals(level: Level) -> list[tuple[str, bool]]:
    latencies = sorted(level.latencies) or [float("inf")]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3
    return [
        (
            f"every one of {level.episodes} episodes answered, no misrouted reply",
            len(level.answered) == level.episodes and not level.errors,
        ),
        (
            f"p99 step <= {GOAL_P99_MS:g} ms with {level.episodes} open ({p99:.1f} ms)",
            p99 <= GOAL_P99_MS,
        ),
        (
            f"server + sandboxes <= {GOAL_TOTAL_GIB:g} GiB ({level.pss_bytes / 2**30:.2f} GiB)",
            level.pss_bytes <= GOAL_TOTAL_GIB * 2**30,
        ),
    ]


async def ramp(args: argparse.Namespace) -> list[Level]:
    levels = [Level(int(count)) for count in args.levels.split(",")]
    clients: list[AsyncEnvClient] = []
    with LocalProcessProvider("python", idle_timeout=IDLE_TIMEOUT) as server:
        assert server.process is not None and server.url is not None
        print(
            f"{'episodes':>8} {'answered':>8} {'p50 ms':>7} {'p99 ms':>8} {'steps/s':>8}"
            f" {'MiB/ep':>8} {'GiB':>7} {'srv CPU':>7} {'cli CPU':>7}"
            f" {'threads':>7} {'fds':>6} {'open s':>7}"
        )
        try:
            for level in levels:
                await run_level(server.process.pid, server.url, clients, level, args)
                report(level)
                for error in level.errors[:5]:
                    print(f"  error: {error}")
        finally:
            await asyncio.gather(*(client.close() for client in clients))
    return levels


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="10,100,1000")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--think", type=float, default=1.0)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"load average before: {load_average()}, {os.cpu_count()} cores")
    levels = asyncio.run(ramp(args))
    print(f"load average after: {load_average()}")
    for goal, met in goals(levels[-1]):
        print(f"goal {goal}: {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
