"""OpenEnv's own clients driving a server: `python openenv_client.py SCENARIOS URL ACTION`.

Runs under an interpreter with OpenEnv (0.3.0 or 0.10.0), never envtorch. SCENARIOS is a comma
separated list, ACTION the JSON of one valid action's fields. Each scenario runs its operations
one by one and records each result or error; the last line printed is the JSON report:
{scenario: {operation: {"ok": ..., "value"|"error": ...}}}. The `generated` scenario imports the
client `openenv init echo_env` wrote, from the working folder.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pydantic
from openenv.core.client_types import StepResult
from openenv.core.env_client import EnvClient
from openenv.core.env_server.types import Action, Observation, State
from openenv.core.generic_client import GenericEnvClient
from openenv.core.mcp_client import MCPToolClient


class CodeAction(Action):
    code: str


class CodeObservation(Observation):
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0


class CodeState(State):
    last_exit_code: int = 0


class CodingClient(EnvClient[CodeAction, CodeObservation, CodeState]):
    """Shaped like OpenEnv's coding_env client: strict pydantic models built from the reply."""

    def _step_payload(self, action: CodeAction) -> dict:
        return {"code": action.code}

    def _parse_result(self, payload: dict) -> StepResult[CodeObservation]:
        observation = CodeObservation(**payload["observation"])
        return StepResult(
            observation=observation, reward=payload.get("reward"), done=payload.get("done")
        )

    def _parse_state(self, payload: dict) -> CodeState:
        return CodeState(**payload)


def typed(action: dict) -> Action:
    """`action` as a pydantic OpenEnv Action (which carries `metadata`)."""
    fields = {name: (type(value), ...) for name, value in action.items()}
    return pydantic.create_model("TypedAction", __base__=Action, **fields)(**action)


def plain(value: Any) -> Any:
    if isinstance(value, StepResult):
        return {
            "observation": plain(value.observation),
            "reward": value.reward,
            "done": value.done,
        }
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def record(report: dict, name: str, operation: Any) -> None:
    try:
        report[name] = {"ok": True, "value": plain(operation())}
    except Exception as error:
        report[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"}


def generic(url: str, action: dict) -> dict:
    report: dict = {}
    with GenericEnvClient(base_url=url).sync() as env:
        record(report, "reset", env.reset)
        record(report, "reset_kwargs", lambda: env.reset(seed=3, episode_id="ep-42", level=2))
        record(report, "step", lambda: env.step(action))
        record(report, "step_model", lambda: env.step(typed(action)))
        record(report, "state", env.state)
    return report


def generic_async(url: str, action: dict) -> dict:
    async def run() -> dict:
        report: dict = {}
        async with GenericEnvClient(base_url=url) as env:
            report["reset"] = {"ok": True, "value": plain(await env.reset(episode_id="ep-7"))}
            report["step"] = {"ok": True, "value": plain(await env.step(action))}
            report["state"] = {"ok": True, "value": plain(await env.state())}
        return report

    return asyncio.run(run())


def generated(url: str, action: dict) -> dict:
    from echo_env import EchoAction, EchoEnv

    report: dict = {}
    with EchoEnv(base_url=url).sync() as env:
        record(report, "reset", env.reset)
        record(report, "step", lambda: env.step(EchoAction(message="scaffold")))
        record(report, "state", env.state)
    return report


def coding(url: str, action: dict) -> dict:
    report: dict = {}
    with CodingClient(base_url=url).sync() as env:
        record(report, "reset", env.reset)
        record(report, "step", lambda: env.step(CodeAction(code="print(6 * 7)")))
        record(report, "fail", lambda: env.step(CodeAction(code="1 / 0")))
        record(report, "state", env.state)
    return report


def mcp(url: str, action: dict) -> dict:
    report: dict = {}
    client = MCPToolClient(base_url=url)
    client.use_production_mode = True
    with client.sync() as env:
        record(report, "reset", env.reset)
        record(report, "list_tools", lambda: [tool.name for tool in env.list_tools()])
        record(report, "call_tool", lambda: env.call_tool("add", a=20, b=22))
    return report


SCENARIOS = {
    "generic": generic,
    "generic_async": generic_async,
    "generated": generated,
    "coding": coding,
    "mcp": mcp,
}


def main() -> None:
    scenarios, url, action = sys.argv[1].split(","), sys.argv[2], json.loads(sys.argv[3])
    sys.path.insert(0, ".")
    print(json.dumps({name: SCENARIOS[name](url, action) for name in scenarios}))


if __name__ == "__main__":
    main()
