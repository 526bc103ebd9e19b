"""Env servers as Ray actors: memory per actor, start time for N actors, steps/s through them.

This script starts a single-node Ray cluster bound to 127.0.0.1 (`ray.init` with
`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`, `--cpus` CPUs, no dashboard) and measures, with
`RayProvider`:

- the head: PSS of Ray's own processes (GCS, raylet, agents, monitors) and of its idle workers;
- start time: `RayProvider("echo", actors=N).start()` until every actor serves, per N;
- memory per actor: PSS of each idle echo actor; then of `python` actors each holding
  `--sessions` open sandboxed sessions (the actor, its zygote and the sessions), per session;
- steps/s: `--clients` AsyncEnvClient sessions stepping echo for `--seconds`, spread over the
  actors, against the same clients on one local `envtorch serve echo` (LocalProcessProvider):
  the peer, since clients reach an actor's server directly and Ray is off the step path; best
  of `--rounds`, the two taking turns. The PSS of an idle local server is printed beside the
  actor's: it is what a container's server process holds.

Goals printed as met/MISSED. The cores are shared: read the load average printed with it.

    .venv/bin/python bench/ray_actors.py [--actors 1,4,8] [--sessions 32] [--clients 32]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import time
from pathlib import Path

from scale import descendants, pss

GOAL_IDLE_ACTOR_MIB = 128.0
GOAL_START_SECONDS = 10.0
GOAL_STEPS_RATIO = 0.8
ACTOR_CPUS = 0.1
IDLE_TIMEOUT = 3600


def title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


def mib(size: float) -> str:
    return f"{size / 2**20:.0f} MiB"


def ray_processes() -> dict[str, list[int]]:
    """Ray's processes below this driver, by role: idle workers, env actors, the rest (head)."""
    roles: dict[str, list[int]] = {"idle": [], "actor": [], "head": []}
    for pid in descendants(os.getpid())[1:]:
        name = title(pid)
        if name.startswith("ray::IDLE"):
            roles["idle"].append(pid)
        elif name.startswith("ray::_EnvServer"):
            roles["actor"].append(pid)
        elif name:
            roles["head"].append(pid)
    return roles


def actor_pid(server) -> int:
    import ray

    return ray.get(server.actor.__ray_call__.remote(lambda actor: os.getpid()), timeout=60)


async def open_sessions(urls: list[str], count: int, env_type, step) -> list:
    """`count` AsyncEnvClient sessions spread over `urls`, each reset and stepped once."""
    from envtorch.client import AsyncEnvClient

    gate = asyncio.Semaphore(8)
    turn = itertools.cycle(urls)

    async def one(url: str):
        async with gate:
            client = AsyncEnvClient(url, env_type, timeout=300)
            await client.reset()
            await client.step(step)
            return client

    return await asyncio.gather(*(one(next(turn)) for _ in range(count)))


async def steps_per_second(urls: list[str], clients: int, seconds: float) -> tuple[float, float]:
    """Steps/s and p50 step latency (ms) of `clients` echo sessions spread over `urls`."""
    from envtorch.envs.echo import EchoAction, EchoEnv

    sessions = await open_sessions(urls, clients, EchoEnv, EchoAction(message="warm"))
    latencies: list[float] = []
    until = time.perf_counter() + seconds

    async def stepping(client) -> None:
        action = EchoAction(message="x")
        while time.perf_counter() < until:
            start = time.perf_counter()
            await client.step(action)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(stepping(client) for client in sessions))
    elapsed = time.perf_counter() - start
    await asyncio.gather(*(client.close() for client in sessions))
    return len(latencies) / elapsed, statistics.median(latencies) * 1e3


def measure_head() -> tuple[int, int, int]:
    """PSS of the head's processes, of its idle workers, and their count."""
    time.sleep(3)
    roles = ray_processes()
    return (
        sum(pss(pid) for pid in roles["head"]),
        sum(pss(pid) for pid in roles["idle"]),
        len(roles["idle"]),
    )


def measure_starts(counts: list[int]) -> tuple[dict[int, float], list[int]]:
    """Seconds to start N echo actors for each N, and the idle PSS of every actor started."""
    from envtorch.providers import RayProvider

    starts, idle = {}, []
    for count in counts:
        provider = RayProvider("echo", actors=count, num_cpus=ACTOR_CPUS)
        start = time.perf_counter()
        provider.start()
        starts[count] = time.perf_counter() - start
        time.sleep(1)
        idle += [pss(actor_pid(server)) for server in provider.servers]
        provider.stop()
        print(f"  {count} actors serving in {starts[count]:.2f} s", flush=True)
    return starts, idle


def measure_sessions(actors: int, sessions: int) -> tuple[list[int], list[int]]:
    """PSS of each python actor's process tree idle and with `sessions` sandboxed sessions."""
    from envtorch.envs.python import CodeAction, PythonEnv
    from envtorch.providers import RayProvider

    provider = RayProvider(
        "python",
        actors=actors,
        num_cpus=ACTOR_CPUS,
        max_sessions=sessions,
        idle_timeout=IDLE_TIMEOUT,
    )
    with provider:
        pids = [actor_pid(server) for server in provider.servers]
        time.sleep(1)
        idle = [sum(pss(pid) for pid in descendants(root)) for root in pids]

        async def holding() -> list[int]:
            clients = await open_sessions(
                provider.urls, actors * sessions, PythonEnv, CodeAction(code="1 + 1")
            )
            held = [sum(pss(pid) for pid in descendants(root)) for root in pids]
            await asyncio.gather(*(client.close() for client in clients))
            return held

        held = asyncio.run(holding())
    return idle, held


def measure_steps(actors: int, clients: int, seconds: float, rounds: int) -> tuple[tuple, tuple]:
    """The best (steps/s, p50 ms) of `rounds` through `actors` echo actors and through one local
    server, the two taking turns so that a change of the machine's load hits both."""
    from envtorch.providers import LocalProcessProvider, RayProvider

    through_ray, local = [], []
    with (
        RayProvider("echo", actors=actors, num_cpus=ACTOR_CPUS) as provider,
        LocalProcessProvider("echo") as server,
    ):
        assert server.url is not None
        for _ in range(rounds):
            through_ray.append(asyncio.run(steps_per_second(provider.urls, clients, seconds)))
            local.append(asyncio.run(steps_per_second([server.url], clients, seconds)))
    return max(through_ray), max(local)


def local_server_pss() -> int:
    """PSS of one idle local `envtorch serve echo`: what a container's server process holds."""
    from envtorch.providers import LocalProcessProvider

    with LocalProcessProvider("echo") as server:
        assert server.process is not None
        time.sleep(1)
        return sum(pss(pid) for pid in descendants(server.process.pid))


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--actors", default="1,4,8", help="actor counts to time the start of")
    parser.add_argument("--session-actors", type=int, default=2)
    parser.add_argument("--sessions", type=int, default=32, help="sandboxed sessions per actor")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--step-actors", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ["RAY_AUTH_MODE"] = "disabled"
    import ray

    print(f"load average before: {load_average()}, {os.cpu_count()} cores, ray {ray.__version__}")
    start = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="warning")
    print(f"ray.init (a local head on 127.0.0.1): {time.perf_counter() - start:.1f} s")
    try:
        head, idle_workers, idle_count = measure_head()
        print(f"head: {mib(head)} PSS; {idle_count} idle workers: {mib(idle_workers)}")
        starts, idle = measure_starts([int(count) for count in args.actors.split(",")])
        print(f"echo actor idle: {mib(min(idle))}-{mib(max(idle))} PSS ({len(idle)} actors)")
        print(f"one local envtorch serve echo, idle: {mib(local_server_pss())} PSS")
        tree_idle, tree_held = measure_sessions(args.session_actors, args.sessions)
        per_session = [
            (held - before) / args.sessions
            for before, held in zip(tree_idle, tree_held, strict=True)
        ]
        print(
            f"python actor idle (actor + zygote): {mib(statistics.mean(tree_idle))}; with "
            f"{args.sessions} sandboxed sessions: {mib(statistics.mean(tree_held))}, "
            f"{statistics.mean(per_session) / 2**20:.2f} MiB per session"
        )
        (ray_rate, ray_p50), (local_rate, local_p50) = measure_steps(
            args.step_actors, args.clients, args.seconds, args.rounds
        )
        print(
            f"echo, {args.clients} sessions: {ray_rate:,.0f} steps/s (p50 {ray_p50:.2f} ms) "
            f"through {args.step_actors} actors; {local_rate:,.0f} steps/s "
            f"(p50 {local_p50:.2f} ms) on one local envtorch serve"
        )
    finally:
        ray.shutdown()
    print(f"load average after: {load_average()}")
    largest = max(starts)
    for goal, met in [
        (
            f"an idle actor <= {GOAL_IDLE_ACTOR_MIB:g} MiB ({mib(max(idle))})",
            max(idle) <= GOAL_IDLE_ACTOR_MIB * 2**20,
        ),
        (
            f"{largest} actors serving in <= {GOAL_START_SECONDS:g} s ({starts[largest]:.1f} s)",
            starts[largest] <= GOAL_START_SECONDS,
        ),
        (
            f"steps/s through actors >= {GOAL_STEPS_RATIO:g}x a local server "
            f"({ray_rate / local_rate:.2f}x)",
            ray_rate >= GOAL_STEPS_RATIO * local_rate,
        ),
    ]:
        print(f"goal {goal}: {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
