"""What a bubblewrap-sandboxed session costs: start, round trip, a loop, concurrency, memory.

Usage: python bench/sandbox.py [--quick]
The peer, smolagents' LocalPythonExecutor (an AST interpreter, not a sandbox), is timed with the
interpreter named by SMOLAGENTS_PYTHON, default /tmp/smolagents-venv/bin/python (a throwaway venv:
python3 -m venv /tmp/smolagents-venv && /tmp/smolagents-venv/bin/pip install smolagents); it is
reported as not installed when absent. Plain `exec` in this process is the native baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path

from envtorch.sandbox import Sandbox, SandboxLimits

LOOP = "total = 0\nfor i in range(100000):\n    total += i\n"
PEER_PYTHON = os.environ.get("SMOLAGENTS_PYTHON", "/tmp/smolagents-venv/bin/python")
PEER_SCRIPT = f"""
import json, statistics, time
from smolagents.local_python_executor import LocalPythonExecutor
executor = LocalPythonExecutor(additional_authorized_imports=[])
executor.send_tools({{}})
def best(code, runs):
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        executor(code)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
print(json.dumps({{"trivial": best("x = 1", 2000), "loop": best({LOOP!r}, 5)}}))
"""


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def timed(function, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return samples


def new_session_seconds(sandbox: Sandbox, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        session = sandbox.open()
        samples.append(time.perf_counter() - start)
        session.close()
    return samples


def loop_seconds(session, runs: int) -> tuple[float, float]:
    """Median times of the loop in the session and in plain `exec`, interleaved to share noise."""
    sandboxed, native = [], []
    for _ in range(runs):
        sandboxed += timed(lambda: session.execute(LOOP), 1)
        native += timed(lambda: exec(LOOP, {}), 1)
    return statistics.median(sandboxed), statistics.median(native)


def concurrent_steps(sandbox: Sandbox, sessions: int, seconds: float) -> tuple[float, float]:
    """Total steps/s and p99 step latency with one thread per session, all stepping at once."""
    opened = [sandbox.open() for _ in range(sessions)]
    latencies: list[list[float]] = [[] for _ in opened]
    barrier = threading.Barrier(sessions + 1)
    stop = time.perf_counter() + seconds + 1e9

    def run(index: int) -> None:
        session = opened[index]
        session.execute("x = 0")
        barrier.wait()
        while time.perf_counter() < stop:
            start = time.perf_counter()
            session.execute("x += 1")
            latencies[index].append(time.perf_counter() - start)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(sessions)]
    for thread in threads:
        thread.start()
    barrier.wait()
    begin = time.perf_counter()
    stop = begin + seconds
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    for session in opened:
        session.close()
    every = [sample for samples in latencies for sample in samples]
    return len(every) / elapsed, percentile(every, 0.99)


def memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    return fields


def idle_session_mebibytes(sandbox: Sandbox, sessions: int) -> tuple[float, float]:
    """Mean PSS and mean private memory of idle sessions (one process each), in MiB."""
    opened = [sandbox.open() for _ in range(sessions)]
    for session in opened:
        session.execute("x = 1")
    pss, private = [], []
    for session in opened:
        fields = memory_kib(session.pid)
        pss.append(fields["Pss"] / 1024)
        private.append((fields["Private_Clean"] + fields["Private_Dirty"]) / 1024)
    for session in opened:
        session.close()
    return statistics.mean(pss), statistics.mean(private)


def peer_numbers() -> dict[str, float] | None:
    if not Path(PEER_PYTHON).exists():
        return None
    completed = subprocess.run([PEER_PYTHON, "-c", PEER_SCRIPT], capture_output=True, text=True)
    if completed.returncode != 0:
        return None
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs, for a smoke test")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    runs = max(int(200 * scale), 10)

    start = time.perf_counter()
    sandbox = Sandbox(SandboxLimits())
    sandbox.open().close()
    cold = time.perf_counter() - start
    with sandbox:
        opens = new_session_seconds(sandbox, runs)
        with sandbox.open() as session:
            trivial = timed(lambda: session.execute("x = 1"), runs * 10)
            loop, native_loop = loop_seconds(session, 9)
        native_trivial = statistics.median(timed(lambda: exec("x = 1", {}), runs * 10))
        steps_per_second, p99 = concurrent_steps(sandbox, 32, 5.0 * scale if args.quick else 5.0)
        pss, private = idle_session_mebibytes(sandbox, 32)
        notes = [f"{limit}: {how}" for limit, how in sandbox.enforcement.items()]
    peer = peer_numbers()

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.3f} ms"

    peer_trivial = ms(peer["trivial"]) if peer else "not installed"
    peer_loop = ms(peer["loop"]) if peer else "not installed"
    rows = [
        ("zygote cold start + first session", ms(cold), "-", "-"),
        ("new session p50", ms(statistics.median(opens)), "<= 15 ms", "Docker ~1 s (cited)"),
        ("new session p90", ms(percentile(opens, 0.9)), "-", "-"),
        ("`x = 1` round trip p50", ms(statistics.median(trivial)), "<= 0.15 ms", "-"),
        ("`x = 1` round trip p99", ms(percentile(trivial, 0.99)), "-", "-"),
        ("`x = 1` plain exec p50", ms(native_trivial), "-", "-"),
        ("`x = 1` smolagents p50", peer_trivial, "-", "-"),
        ("10^5 loop, sandbox", ms(loop), "<= 1.2x exec", f"{loop / native_loop:.2f}x exec"),
        ("10^5 loop, plain exec", ms(native_loop), "-", "1.00x"),
    ]
    if peer:
        ratio = f"{peer['loop'] / native_loop:.1f}x exec, {peer['loop'] / loop:.1f}x sandbox"
        rows.append(("10^5 loop, smolagents", peer_loop, "-", ratio))
    else:
        rows.append(("10^5 loop, smolagents", peer_loop, "-", "-"))
    rows += [
        ("32 sessions, steps/s", f"{steps_per_second:.0f}", "-", "-"),
        ("32 sessions, step p99", ms(p99), "-", "-"),
        ("idle session memory (PSS)", f"{pss:.2f} MiB", "<= 5 MiB", "-"),
        ("idle session memory (private)", f"{private:.2f} MiB", "-", "-"),
    ]
    widths = [max(len(str(row[column])) for row in rows) for column in range(4)]
    header = ("measure", "value", "goal", "ratio")
    widths = [max(width, len(title)) for width, title in zip(widths, header, strict=True)]
    for row in (header, tuple("-" * width for width in widths), *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
    print("\nnotes:", "; ".join(notes))


if __name__ == "__main__":
    main()
