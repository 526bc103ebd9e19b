"""Env servers in containers against local processes: start to healthy, one and N at once.

Usage: ./dev bench bench/containers.py [IMAGE] [--parallel 8] [--rounds 3]
IMAGE is an image `envtorch build python-math` made; without it the script builds one on
`$ENVTORCH_TEST_BASE_IMAGE` (or the default base). `DOCKER_HOST` names the engine; `./dev bench`
runs podman's for the script as root, as `./dev test` does. Reported:
seconds from `start()` to a healthy `/health` and a first sandboxed step, for one server and for
N started at once, with `DockerProvider` and, in the same run, `LocalProcessProvider` serving the
same env as a child process; and the resident memory of one idle container.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from envtorch.envs.python import CodeAction, PythonEnv
from envtorch.providers import DockerProvider, LocalProcessProvider
from envtorch.providers.image import DEFAULT_BASE, build_image


def start_and_step(provider) -> float:
    """Seconds from start() to the answer of a first sandboxed step; the provider stays up."""
    started = time.perf_counter()
    provider.start()
    with provider.client(PythonEnv) as env:
        env.reset(task={"question": "1 + 1", "answer": 2})
        assert env.step(CodeAction(code="1 + 1")).value == 2
    return time.perf_counter() - started


def round_of(make, count: int) -> tuple[float, float]:
    """Median seconds per server, and seconds until all `count` started at once had stepped."""
    providers = [make() for _ in range(count)]
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(count) as pool:
            each = list(pool.map(start_and_step, providers))
        return statistics.median(each), time.perf_counter() - started
    finally:
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda provider: provider.stop(), providers))


def container_memory_mib(image: str) -> float:
    with DockerProvider(image) as provider:
        stats = provider.container.stats(stream=False)
        return stats["memory_stats"]["usage"] / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?")
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.image is None:
        base = os.environ.get("ENVTORCH_TEST_BASE_IMAGE", DEFAULT_BASE)
        args.image = build_image("python-math", tag="envtorch-bench-python-math", base=base)
    peers = {
        "container": lambda: DockerProvider(args.image),
        "local process": lambda: LocalProcessProvider("python-math"),
    }
    rows = []
    for name, make in peers.items():
        one = statistics.median(round_of(make, 1)[1] for _ in range(args.rounds))
        many = statistics.median(round_of(make, args.parallel)[1] for _ in range(args.rounds))
        rows.append((name, one, many))
    print(f"| server | start to first step, 1 | {args.parallel} at once, until all stepped |")
    print("|---|---|---|")
    for name, one, many in rows:
        print(f"| {name} | {one:.2f} s | {many:.2f} s |")
    (_, container_one, container_many), (_, local_one, local_many) = rows
    print(
        f"container / local process: {container_one / local_one:.1f}x for one, "
        f"{container_many / local_many:.1f}x for {args.parallel}"
    )
    print(f"one idle container: {container_memory_mib(args.image):.0f} MiB")


if __name__ == "__main__":
    main()
