"""TorchRL's LLMCollector + ChatEnv with a scripted policy: the peer row of bench/collector.py.

Usage: <python with torchrl> bench/torchrl_peer.py [--batch B] [--turns T] [--episodes N]

Runs in its own interpreter (a throwaway venv, never the project's): `import torchrl` switches
multiprocessing to "spawn" for the whole process, and torchrl is no dependency of envtorch.

Prompts come from a torch DataLoader through `ChatEnv.from_dataloader` (a DataLoadingPrimer feeds
each reset); `StepCounter` ends a dialog after T turns; `LLMCollector` yields completed dialogs from
B environments batched in one ChatEnv. The policy is no model: it answers every prompt with the
last message of the dialog as the assistant's reply, the work envtorch's scripted echo policy does.
Prints one JSON line: turns, dialogs, wall and CPU seconds of the collection loop, torchrl version.
"""

from __future__ import annotations

import argparse
import json
import time

import torchrl
from tensordict import TensorDictBase, set_list_to_stack
from torch.utils.data import DataLoader
from torchrl.collectors.llm import LLMCollector
from torchrl.data.llm import History
from torchrl.envs import StepCounter
from torchrl.envs.llm import ChatEnv
from torchrl.modules.llm.policies import ChatHistory


def echo_policy(tensordict: TensorDictBase) -> TensorDictBase:
    """Reply to each dialog in the batch with its last message, as the assistant."""
    prompt = tensordict["history"].prompt
    batch = prompt.batch_size[0]
    replies = [dialog[-1].content for dialog in prompt.unbind(0)]
    response = History(role=["assistant"] * batch, content=replies, batch_size=(batch,))
    response = response.unsqueeze(-1)
    full = prompt.extend(response, inplace=False, dim=-1)
    chat = ChatHistory(prompt=prompt, response=response, full=full, batch_size=(batch,))
    tensordict.set("history", chat)
    return tensordict


def make_env(batch: int, turns: int):
    """B chat dialogs fed from a DataLoader of prompts, each ended after `turns` turns."""
    prompts = [{"query": f"hello {index}"} for index in range(1000)]
    loader = DataLoader(prompts, batch_size=batch, shuffle=False)
    env = ChatEnv.from_dataloader(loader, batch_size=batch, input_mode="history")
    return env.append_transform(StepCounter(max_steps=turns))


def collect(batch: int, turns: int, episodes: int) -> dict:
    """Collect `episodes` dialogs of `turns` turns and time the collection loop."""
    collector = LLMCollector(
        make_env(batch, turns),
        policy=echo_policy,
        dialog_turns_per_batch=batch * turns,
        total_dialog_turns=episodes * turns,
        yield_completed_trajectories=True,
    )
    collected = dialogs = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for data in collector:
        collected += data.numel()
        dialogs += int(data["next", "done"].sum())
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    collector.shutdown()
    return {
        "turns": collected,
        "dialogs": dialogs,
        "wall": wall,
        "cpu": cpu,
        "torchrl": torchrl.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--episodes", type=int, default=128)
    args = parser.parse_args()
    set_list_to_stack(True).set()
    print(json.dumps(collect(args.batch, args.turns, args.episodes)))


if __name__ == "__main__":
    main()
