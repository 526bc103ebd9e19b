"""Soak: many CodeAct episodes through one server, with kills and idle clients; does anything leak?

One `envtorch serve python` process (LocalProcessProvider) serves `--episodes` episodes opened,
stepped and closed by `--concurrency` async clients at a time. Each episode resets, sets `x` to its
own number and reads it back three ways, so a reply meant for another episode shows up as
misrouted. Now and then (`--kill-rate`) an episode runs a slow step and its sandboxed session
process is killed from outside with SIGKILL while the step runs: the session processes are the
children of the zygote in the server's process tree (each pid 1 of its own pid namespace), and
the one to kill is the one holding the episode's marker file open. The killed step must answer
with a `SessionKilled` observation, and a `reset()` on the same client must give a working
episode again. `--idle` clients connect, reset and stay silent until the end.

Printed: the server's RSS and open fds, and the RSS/PSS of its whole process tree, after a
warm-up (the zygote and the idle clients already counted) and after the run; processes left in
the tree once every episode closed (the idle sessions, the zygote and bubblewrap aside); replies
misrouted, episodes lost, kills and recoveries; and after the server stopped, processes of its
tree still alive. Goals are printed as met or MISSED; the exit status is 0 either way.

    .venv/bin/python bench/soak.py [--episodes 1000] [--concurrency 32] [--idle 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field

from envtorch import AsyncEnvClient
from envtorch.envs.python import CodeAction, CodeObservation, PythonEnv
from envtorch.providers import LocalProcessProvider

CALL_TIMEOUT = 60.0
SLEEP_STEP = "import time\nmarker = open({marker!r}, 'w')\ntime.sleep(1.0)"
KILL_WINDOW = 0.8
SETTLE_SECONDS = 10.0


@dataclass
class Outcome:
    """What happened to one episode."""

    number: int
    misrouted: list[str] = field(default_factory=list)
    lost: str | None = None
    killed: bool = False
    kill_missed: bool = False
    recovered: bool = False


@dataclass
class Usage:
    """The server's footprint at one moment; sizes in kB."""

    server_rss: int
    tree_rss: int
    tree_pss: int
    fds: int
    processes: int


class Lost(Exception):
    """An episode failed for a reason other than a deliberate kill."""


def expected_steps(number: int) -> list[tuple[str, object]]:
    """The episode's steps and the value each must answer with: all of them carry its number."""
    return [
        (f"x = {number}\nx", number),
        ("x * 2", 2 * number),
        ("f'episode {x}'", f"episode {number}"),
    ]


async def run_episode(url: str, server_pid: int, number: int, kill: bool) -> Outcome:
    """Reset, step, maybe kill the session mid-step and recover, close; never raises."""
    outcome = Outcome(number)
    try:
        async with AsyncEnvClient(url, PythonEnv, timeout=CALL_TIMEOUT) as env:
            await env.reset()
            await check_steps(env, outcome)
            if kill:
                observation, outcome.killed = await step_and_kill(env, server_pid, number)
                outcome.kill_missed = not outcome.killed
                if outcome.killed:
                    require_killed(observation)
                    await env.reset()
                    await check_steps(env, outcome)
                    outcome.recovered = not outcome.misrouted
    except Exception as error:
        outcome.lost = f"{type(error).__name__}: {error}"
    return outcome


async def check_steps(env: AsyncEnvClient, outcome: Outcome) -> None:
    """Take the episode's steps; a wrong value is misrouted, an error loses the episode."""
    for code, wanted in expected_steps(outcome.number):
        observation = await env.step(CodeAction(code=code))
        if observation.exception is not None:
            raise Lost(f"{code!r} raised {observation.exception.type}")
        if observation.value != wanted:
            outcome.misrouted.append(f"episode {outcome.number}: {code!r} -> {observation.value!r}")


async def step_and_kill(
    env: AsyncEnvClient, server_pid: int, number: int
) -> tuple[CodeObservation, bool]:
    """Run a slow step and SIGKILL the session process running it; its observation, and
    whether the kill was done."""
    marker = f"/tmp/soak-episode-{number}"
    step = asyncio.create_task(env.step(CodeAction(code=SLEEP_STEP.format(marker=marker))))
    killed = await asyncio.to_thread(kill_session_holding, server_pid, marker)
    return await step, killed


def require_killed(observation: CodeObservation) -> None:
    """The killed step's observation must say the session was killed."""
    exception = observation.exception
    if exception is None or exception.type != "SessionKilled" or not observation.killed:
        raise Lost(f"the killed step answered {exception or observation.value!r}")


def kill_session_holding(server_pid: int, marker: str) -> bool:
    """SIGKILL the session process that holds `marker` open, once it appears (within
    `KILL_WINDOW` seconds). The pid is pinned with a pidfd, then checked again, so a pid reused
    in between is never signalled."""
    deadline = time.monotonic() + KILL_WINDOW
    while time.monotonic() < deadline:
        for pid in session_pids(server_pid):
            if not holds(pid, marker):
                continue
            try:
                pidfd = os.pidfd_open(pid)
            except ProcessLookupError:
                continue
            try:
                if holds(pid, marker) and pid in session_pids(server_pid):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                    return True
            finally:
                os.close(pidfd)
        time.sleep(0.01)
    return False


def holds(pid: int, path: str) -> bool:
    """Whether process `pid` has `path` open."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for name in names:
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}") == path:
                return True
        except OSError:
            continue
    return False


def read(path: str) -> str:
    """A /proc file's text, empty once its process is gone."""
    try:
        with open(path) as file:
            return file.read()
    except OSError:
        return ""


def children(pid: int) -> list[int]:
    """The direct children of `pid`, from every one of its threads."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    return [int(c) for t in threads for c in read(f"/proc/{pid}/task/{t}/children").split()]


def descendants(pid: int) -> list[int]:
    """Every process below `pid`."""
    found, stack = [], children(pid)
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(children(child))
    return found


def parent(pid: int) -> int:
    """The parent pid, 0 once `pid` is gone."""
    fields = read(f"/proc/{pid}/stat").rpartition(")")[2].split()
    return int(fields[1]) if fields else 0


def command_name(pid: int) -> str:
    """The process's name (`comm`), empty once it is gone."""
    return read(f"/proc/{pid}/comm").strip()


def start_time(pid: int) -> str:
    """The process's start time in clock ticks: with the pid, it names one process for good."""
    fields = read(f"/proc/{pid}/stat").rpartition(")")[2].split()
    return fields[19] if fields else ""


def is_zygote(pid: int) -> bool:
    """The zygote: the Python that bubblewrap runs with `guest.forkserver` (bubblewrap's own command
    line names it too, and the sessions forked from it share its command line)."""
    return (
        "guest.forkserver" in read(f"/proc/{pid}/cmdline")
        and command_name(pid) != "bwrap"
        and command_name(parent(pid)) == "bwrap"
    )


def is_session(pid: int) -> bool:
    """A sandboxed session: a child of a zygote and pid 1 of its own pid namespace."""
    nspid = status_field(pid, "NSpid").split()
    return is_zygote(parent(pid)) and nspid[-1:] == ["1"]


def is_machinery(pid: int) -> bool:
    """bubblewrap and the zygote: started once, they stay for the server's life."""
    return command_name(pid) == "bwrap" or is_zygote(pid)


def session_pids(server_pid: int) -> list[int]:
    """Every sandboxed session process the server has now."""
    return [pid for pid in descendants(server_pid) if is_session(pid)]


def status_field(pid: int, name: str) -> str:
    """One field of /proc/<pid>/status, empty when absent."""
    for line in read(f"/proc/{pid}/status").splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return value.strip()
    return ""


def kilobytes(text: str) -> int:
    """`51384 kB` as 51384; 0 for an empty field."""
    return int(text.split()[0]) if text else 0


def pss(pid: int) -> int:
    """Proportional set size in kB."""
    for line in read(f"/proc/{pid}/smaps_rollup").splitlines():
        if line.startswith("Pss:"):
            return kilobytes(line.split(":", 1)[1])
    return 0


def measure(server_pid: int) -> Usage:
    """The server's RSS and fds, and the RSS, PSS and size of its whole process tree."""
    tree = [server_pid, *descendants(server_pid)]
    return Usage(
        server_rss=kilobytes(status_field(server_pid, "VmRSS")),
        tree_rss=sum(kilobytes(status_field(pid, "VmRSS")) for pid in tree),
        tree_pss=sum(pss(pid) for pid in tree),
        fds=len(os.listdir(f"/proc/{server_pid}/fd")),
        processes=len(tree),
    )


def leftovers(server_pid: int, idle_sessions: set[int]) -> list[int]:
    """Processes in the server's tree other than bubblewrap, the zygote and the idle sessions."""
    return [
        pid for pid in descendants(server_pid) if pid not in idle_sessions and not is_machinery(pid)
    ]


def settled_leftovers(server_pid: int, idle_sessions: set[int]) -> list[int]:
    """The leftovers once closes had `SETTLE_SECONDS` to take effect."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while (left := leftovers(server_pid, idle_sessions)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def still_alive(processes: list[tuple[int, str]]) -> list[int]:
    """The recorded processes (pid and start time) still running, once they had time to end."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        alive = [pid for pid, started in processes if start_time(pid) == started]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def describe(pid: int) -> str:
    """One line naming a process, for the report."""
    comm = command_name(pid) or "gone"
    return f"pid {pid} {comm} (parent {parent(pid)}, NSpid {status_field(pid, 'NSpid') or '-'})"


async def run_episodes(
    url: str,
    server_pid: int,
    numbers: range,
    kills: set[int],
    concurrency: int,
    deadline: float,
) -> list[Outcome]:
    """Run the episodes `concurrency` at a time; none starts after `deadline`."""
    pending = iter(numbers)
    outcomes: list[Outcome] = []

    async def worker() -> None:
        for number in pending:
            if time.monotonic() > deadline:
                return
            outcomes.append(await run_episode(url, server_pid, number, number in kills))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


async def open_idle(url: str, count: int) -> list[AsyncEnvClient]:
    """Clients that connect, reset, and then say nothing."""
    clients = [AsyncEnvClient(url, PythonEnv, timeout=CALL_TIMEOUT) for _ in range(count)]
    await asyncio.gather(*(client.reset() for client in clients))
    return clients


async def idle_answering(clients: list[AsyncEnvClient]) -> int:
    """How many idle clients still answer a step correctly."""

    async def answers(client: AsyncEnvClient) -> bool:
        try:
            return (await client.step(CodeAction(code="6 * 7"))).value == 42
        except Exception:
            return False

    return sum(await asyncio.gather(*(answers(client) for client in clients)))


async def soak(args: argparse.Namespace) -> None:
    """The whole run, top to bottom, then the table."""
    started = time.monotonic()
    deadline = started + args.minutes * 60
    rng = random.Random(args.seed)
    options = {"max_sessions": args.concurrency + args.idle + 16, "idle_timeout": 0}
    with LocalProcessProvider("python", **options) as server:
        assert server.url is not None and server.process is not None
        url, pid = server.url, server.process.pid

        idle = await open_idle(url, args.idle)
        idle_sessions = set(session_pids(pid))
        await run_episodes(url, pid, range(1, args.warmup + 1), set(), args.concurrency, deadline)
        settled_leftovers(pid, idle_sessions)
        before = measure(pid)

        numbers = range(args.warmup + 1, args.warmup + args.episodes + 1)
        kills = {number for number in numbers if rng.random() < args.kill_rate}
        outcomes = await run_episodes(url, pid, numbers, kills, args.concurrency, deadline)
        left = settled_leftovers(pid, idle_sessions)
        after = measure(pid)
        idle_alive = len(idle_sessions & set(session_pids(pid)))
        answering = await idle_answering(idle)

        tree = [(p, start_time(p)) for p in [pid, *descendants(pid)]]
    survivors = still_alive(tree)
    elapsed = time.monotonic() - started

    misrouted = [line for outcome in outcomes for line in outcome.misrouted]
    lost = [outcome for outcome in outcomes if outcome.lost is not None]
    killed = [outcome for outcome in outcomes if outcome.killed]
    recovered = [outcome for outcome in killed if outcome.recovered]
    missed = sum(outcome.kill_missed for outcome in outcomes)

    print(
        f"soak: {len(outcomes)} of {args.episodes} episodes, {args.concurrency} concurrent, "
        f"{args.idle} idle clients, kill rate {args.kill_rate:g}, {elapsed:.0f} s, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'measure':<34} {'before':>10} {'after':>10} {'change':>8}")
    for label, key, scale, form in (
        ("server RSS (MiB)", "server_rss", 1024, "{:>10.1f}"),
        ("server tree RSS (MiB)", "tree_rss", 1024, "{:>10.1f}"),
        ("server tree PSS (MiB)", "tree_pss", 1024, "{:>10.1f}"),
        ("server open fds", "fds", 1, "{:>10.0f}"),
        ("processes in the server's tree", "processes", 1, "{:>10.0f}"),
    ):
        old, new = getattr(before, key) / scale, getattr(after, key) / scale
        print(f"{label:<34} {form.format(old)} {form.format(new)} {(new - old) / old:>+8.1%}")
    print(f"{'replies misrouted':<34} {len(misrouted):>10}")
    print(f"{'episodes lost':<34} {len(lost):>10}")
    print(f"{'kills done':<34} {len(killed):>10}   ({missed} planned but not found in time)")
    print(f"{'killed episodes recovered':<34} {len(recovered):>10}")
    print(f"{'processes left after the episodes':<34} {len(left):>10}")
    print(f"{'idle sessions alive':<34} {idle_alive:>10}   of {len(idle_sessions)}")
    print(f"{'idle clients answering at the end':<34} {answering:>10}   of {len(idle)}")
    print(f"{'processes left after server stop':<34} {len(survivors):>10}   of {len(tree)}")
    for line in misrouted[:5]:
        print(f"  misrouted: {line}")
    for reason, count in Counter(outcome.lost for outcome in lost).most_common(5):
        print(f"  lost x{count}: {reason}")
    for left_pid in left[:5]:
        print(f"  left after the episodes: {describe(left_pid)}")
    for survivor in survivors[:5]:
        print(f"  left after server stop: {describe(survivor)}")

    goals = [
        ("all episodes run before the deadline", len(outcomes) == args.episodes),
        ("server RSS flat within 10 %", after.server_rss <= 1.1 * before.server_rss),
        ("server fds flat", after.fds <= before.fds),
        ("nothing left after the episodes", not left),
        ("idle clients still answering", answering == len(idle) == args.idle),
        ("nothing left after server stop", not survivors),
        ("0 replies misrouted", not misrouted),
        ("0 episodes lost", not lost),
        ("every killed episode recovered", bool(killed) and len(recovered) == len(killed)),
    ]
    for goal, met in goals:
        print(f"goal {goal}: {'met' if met else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--episodes", type=int, default=1000, help="episodes measured")
    parser.add_argument("--concurrency", type=int, default=32, help="episodes in flight")
    parser.add_argument("--idle", type=int, default=50, help="clients held open and silent")
    parser.add_argument("--warmup", type=int, default=50, help="episodes before measuring")
    parser.add_argument("--kill-rate", type=float, default=0.05, help="share of episodes killed")
    parser.add_argument("--minutes", type=float, default=10.0, help="deadline for the whole run")
    parser.add_argument("--seed", type=int, default=0, help="which episodes are killed")
    asyncio.run(soak(parser.parse_args()))


if __name__ == "__main__":
    main()
