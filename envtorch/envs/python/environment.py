"""`PythonEnv`: CodeAct actions run in a persistent, sandboxed Python namespace."""

from __future__ import annotations

import atexit
import builtins
import copy
import inspect
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

from envtorch.core import Action, Environment, Observation, ResetNeeded, State
from envtorch.envs.python import workspace
from envtorch.sandbox import ExceptionInfo, ExecutionResult, Sandbox, SandboxLimits, SandboxSession
from envtorch.sandbox.limits import MiB
from envtorch.sandbox.session import tool_specs

WORKSPACE_TOOL_NAMES = frozenset({"file_read", "file_write", "list_files", "list_tools"})
WORKSPACE_TOOLS = (
    Path(inspect.getfile(workspace)).read_text()
    + "\n_install_workspace_tools(globals())\ndel _install_workspace_tools\n"
)


@dataclass(kw_only=True)
class CodeAction(Action):
    """Python source to run in the episode's namespace."""

    code: str


@dataclass(kw_only=True)
class CodeObservation(Observation):
    """What running the code produced.

    `value` is the trailing expression's value (JSON data, else a truncated repr: a value
    holding NaN or an infinity is not JSON, so `[1.0, nan]` comes back as that text). `exception`
    describes an exception, a syntax error or a timeout; `success` is true without one, and
    `exit_code` is 0 then, else 1 (as OpenEnv's coding_env reports it). To OpenEnv's clients a
    server sends its `openenv_fields`, the others in `metadata`.
    `timed_out` says a timeout stopped the code; `killed` says the episode's process had to be
    ended, which ends the episode. After `reset()`, `prompt` holds the task's visible text.
    """

    stdout: str = ""
    stderr: str = ""
    value: Any = None
    exception: ExceptionInfo | None = None
    success: bool = True
    exit_code: int = 0
    timed_out: bool = False
    killed: bool = False
    prompt: str = ""

    openenv_fields: ClassVar[tuple[str, ...]] = ("stdout", "stderr", "exit_code")


class PythonEnv(Environment[CodeAction, CodeObservation, State]):
    """CodeAct: each action is Python code, run in a namespace that lives for the whole episode.

    Every episode gets a fresh process forked from a warm, sandboxed zygote (no network, a private
    `/tmp` workspace, resource limits), so `PythonEnv()` is safe with no arguments. Variables and
    functions persist across steps; stdout, stderr, the last expression's value and exceptions come
    back in the observation, each cut to `SandboxLimits.max_output` (64 KiB). A step that prints
    more than `SandboxLimits.file_size` (64 MiB) gets `OSError` (File too large) at that write,
    in its own code, since its captured output is a file under that limit.

    `tools` are host functions that appear in the namespace as callables with their signatures and
    docstrings (arguments and results travel as JSON, NaN and infinities refused; an argument
    whose parameter is annotated with JSON types, `str` or `list[int] | None` say, must have one
    of them, else the call raises `TypeError`); `mcp_servers` add every tool of those MCP
    servers the same way, connected once per process and reused across episodes. The built-in
    `file_read`, `file_write` and `list_files` act inside the workspace, and `list_tools()` returns
    every tool's signature and docstring, ready for a prompt.

    `step_timeout` is the soft limit of one step (the namespace survives it), never more than
    what is left of the episode's `time_limit`; code that does not stop is killed shortly after
    and the episode ends. `memory_mb` caps the episode's memory and `cpus` its CPUs
    (`SandboxLimits.cpus`). The task given to `reset()` stays hidden, but for its `prompt` or
    `question` text.

    `fork(n)` gives `n` episodes that go on from this one copy-on-write, each sandboxed from it and
    from each other like a fresh episode: the namespace, the workspace's files, the rng, the step
    count and the task carry over; background processes do not, and open files and sockets point
    at `/dev/null` afterwards (in this episode too).
    """

    action_type = CodeAction
    observation_type = CodeObservation
    state_type = State
    metadata = {
        "name": "python",
        "description": "CodeAct: Python code run in a persistent sandboxed namespace.",
        "render_modes": ["ansi"],
    }

    def __init__(
        self,
        *,
        tools: Mapping[str, Callable[..., Any]] | Sequence[Callable[..., Any]] = (),
        mcp_servers: Sequence[Any] = (),
        step_timeout: float = 10.0,
        memory_mb: int | None = None,
        cpus: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if step_timeout <= 0:
            raise ValueError(f"step_timeout must be positive, got {step_timeout!r}")
        self.step_timeout = step_timeout
        self.host_tools = _named_tools(tools)
        self.mcp_servers = list(mcp_servers)
        self._limits = _limits(memory_mb, cpus)
        self._session: SandboxSession | None = None
        self._steps: list[tuple[str, CodeObservation]] = []

    def _reset(self, *, seed: int | None, task: Any) -> CodeObservation:
        self._close_session()
        self._session = shared_sandbox(self._limits).open(tools=self._session_tools())
        if seed is not None:
            self._session.execute(f"import random\nrandom.seed({int(seed)})\ndel random")
        self._steps = []
        return CodeObservation(prompt=_visible_prompt(task))

    def _step(self, action: CodeAction) -> CodeObservation:
        return self._run(action.code, self.step_timeout)

    def _run(self, code: str, timeout: float) -> CodeObservation:
        """Run one step's code for at most `timeout` seconds, or what is left of the episode's
        `time_limit` if that is less, and record it for `render()`."""
        assert self._session is not None
        left = self._seconds_left()
        if left is not None:
            timeout = max(min(timeout, left), 0.01)
        result = self._session.execute(code, timeout=timeout)
        observation = _observation(result)
        self._steps.append((code, observation))
        return observation

    def _fork(self, count: int) -> list[Self]:
        assert self._session is not None
        return [self._twin_on(session) for session in self._session.fork(count)]

    def _twin_on(self, session: SandboxSession) -> Self:
        """A copy of this environment whose episode goes on in `session`."""
        twin = copy.copy(self)
        twin._session = session
        twin._state = copy.deepcopy(self._state)
        twin.rng = copy.deepcopy(self.rng)
        twin.transform = copy.deepcopy(self.transform)
        twin._steps = list(self._steps)
        return twin

    def _session_tools(self) -> dict[str, Callable[..., Any]]:
        """The host functions the episode's namespace calls: the MCP servers' tools and the
        host tools."""
        return {**_mcp_tools(self.mcp_servers), **self.host_tools}

    def tools(self) -> dict[str, Callable[..., Any]]:
        """The host tools, the MCP servers' tools and the workspace file tools, as the episode's
        namespace names them; the file tools act in the current episode's workspace."""
        return {**self._session_tools(), **_workspace_tools(self._run_workspace_tool)}

    def _run_workspace_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        """Call a workspace tool inside the episode's sandbox; what it raises is raised here."""
        if self._session is None:
            raise ResetNeeded(f"{name} acts in an episode's workspace: call reset() first")
        result = self._session.execute(f"{name}(**{arguments!r})", timeout=self.step_timeout)
        if result.exception is not None:
            raise ToolFailed(f"{result.exception.type}: {result.exception.message}")
        return result.value

    def _render(self) -> str:
        """The episode so far: each step's code, its output and its reward, and the total."""
        total = sum(observation.reward or 0.0 for _, observation in self._steps)
        lines = [
            f"[python] episode {self.state.episode_id}: {len(self._steps)} step(s), "
            f"reward {total:g}"
        ]
        for number, (code, observation) in enumerate(self._steps, start=1):
            lines.append(_step_heading(number, observation))
            lines.extend(f">>> {line}" for line in code.splitlines() or [""])
            lines.extend(_output(observation).splitlines())
        return "\n".join(lines) + "\n"

    def _close(self) -> None:
        self._close_session()

    def _close_session(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def _observation(result: ExecutionResult) -> CodeObservation:
    """The observation of one execution; a killed session ends the episode as truncated."""
    return CodeObservation(
        stdout=result.stdout,
        stderr=result.stderr,
        value=result.value,
        exception=result.exception,
        success=result.success,
        exit_code=0 if result.success else 1,
        timed_out=result.timed_out,
        killed=result.killed,
        done=result.killed,
        truncated=result.killed,
        metadata={"duration": result.duration},
    )


def _step_heading(number: int, observation: CodeObservation) -> str:
    reward = "none" if observation.reward is None else f"{observation.reward:g}"
    ending = ", done" if observation.done else ""
    return f"--- step {number}: reward {reward}{ending}"


def _output(observation: CodeObservation) -> str:
    """What a step printed, then its exception or its value, as an interpreter shows them."""
    output = observation.stdout + observation.stderr
    if observation.exception is not None:
        output += f"{observation.exception.type}: {observation.exception.message}\n"
    elif observation.value is not None:
        output += f"{observation.value!r}\n"
    return output


class ToolFailed(Exception):
    """A workspace tool raised inside the sandbox; the message names its exception."""


def _workspace_tools(run: Callable[[str, dict[str, Any]], Any]) -> dict[str, Callable[..., Any]]:
    """Host-side doubles of the workspace file tools, each running the real one through `run`."""

    def file_read(path: str) -> str:
        """Read a text file of the workspace and return its content."""
        return run("file_read", {"path": path})

    def file_write(path: str, content: str) -> int:
        """Write text to a workspace file, creating folders; return the characters written."""
        return run("file_write", {"path": path, "content": content})

    def list_files(path: str = ".") -> list:
        """The files below a folder of the workspace, as sorted paths relative to that folder."""
        return run("list_files", {"path": path})

    return {tool.__name__: tool for tool in (file_read, file_write, list_files)}


def _visible_prompt(task: Any) -> str:
    """What the policy may see of a task: its `prompt` or `question` text, never the rest."""
    if task is None:
        return ""
    if isinstance(task, str):
        return task
    fields = task if isinstance(task, Mapping) else vars(task) if hasattr(task, "__dict__") else {}
    for key in ("prompt", "question"):
        if isinstance(fields.get(key), str):
            return fields[key]
    return ""


def _named_tools(
    tools: Mapping[str, Callable[..., Any]] | Sequence[Callable[..., Any]],
) -> dict[str, Callable[..., Any]]:
    """Tools by name, checked now rather than at the first reset: names must be identifiers
    (name a lambda through a mapping), unique, and not the env's own tools."""
    if isinstance(tools, Mapping):
        named = dict(tools)
    else:
        named = {getattr(tool, "__name__", repr(tool)): tool for tool in tools}
        if len(named) != len(tools):
            raise ValueError("two tools share a name; pass a mapping of names to tools")
    clashes = sorted(WORKSPACE_TOOL_NAMES & set(named))
    if clashes:
        raise ValueError(f"tool names {clashes} are the env's own workspace tools")
    tool_specs(named)
    return named


def _limits(memory_mb: int | None, cpus: float | None) -> SandboxLimits:
    if memory_mb is None:
        return SandboxLimits(cpus=cpus)
    if memory_mb < 16:
        raise ValueError(f"memory_mb must be at least 16, got {memory_mb!r}")
    memory = memory_mb * MiB
    return SandboxLimits(
        memory=memory, address_space=max(SandboxLimits().address_space, memory), cpus=cpus
    )


_shared_lock = threading.Lock()
_sandboxes: dict[SandboxLimits, Sandbox] = {}


def shared_sandbox(limits: SandboxLimits) -> Sandbox:
    """The process-wide `Sandbox` of a limits profile: one warm zygote serves every episode.

    Its prelude installs the workspace file tools in every session.
    """
    with _shared_lock:
        sandbox = _sandboxes.get(limits)
        if sandbox is None:
            sandbox = _sandboxes[limits] = Sandbox(limits, prelude=WORKSPACE_TOOLS)
        return sandbox


def _mcp_tools(servers: Sequence[Any]) -> dict[str, Callable[..., Any]]:
    """The tools of `servers`, from the process-wide toolset (connected once, then reused)."""
    if not servers:
        return {}
    from envtorch.tools import shared_toolset

    return {_namespace_name(name): tool for name, tool in shared_toolset(servers).tools().items()}


def _namespace_name(name: str) -> str:
    """An MCP tool's name in the namespace: prefixed with `mcp_` where it would hide a builtin
    or one of the env's own tools (an MCP server named a tool `print` or `list_tools`)."""
    hides = hasattr(builtins, name) or name in WORKSPACE_TOOL_NAMES or name.startswith("__")
    return f"mcp_{name}" if hides else name


@atexit.register
def _close_shared() -> None:
    with _shared_lock:
        sandboxes = list(_sandboxes.values())
        _sandboxes.clear()
    for sandbox in sandboxes:
        sandbox.close()
