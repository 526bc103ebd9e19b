"""Reward transforms for code actions: unsafe code and code quality.

A right answer is rewarded by `envtorch.envs.math.AnswerReward`, which reads a code step's value.

Each is a `RewardTransform`: use it alone as an environment's `transform`, chain it with
`Compose`, or weigh it inside a `RewardSum`. They read `action.code` and the observation's
`success`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from envtorch.core import Action, Observation, RewardTransform, State


@dataclass(frozen=True)
class SafetyFinding:
    """One risky construct found in code: what it is and on which line."""

    line: int
    what: str


RISKY_MODULES = frozenset(
    "os subprocess socket ctypes cffi shutil multiprocessing pty signal importlib threading "
    "resource mmap fcntl urllib http requests httpx asyncio pickle marshal sys".split()
)
RISKY_CALLS = frozenset({"eval", "exec", "compile", "__import__", "breakpoint", "globals", "vars"})
ESCAPE_ATTRIBUTES = frozenset(
    "__subclasses__ __globals__ __builtins__ __code__ __bases__ __mro__ __loader__".split()
)


class CodeSafetyPenalty(RewardTransform):
    """`-penalty` when code spawns processes, evaluates strings or imports risky modules.

    Detection walks the syntax tree, so strings and comments that merely mention `os.system` do
    not count. The findings are listed in `observation.metadata["safety_findings"]`. Code that
    does not parse is not penalised here (see `CodeQualityBonus`).
    """

    def __init__(self, penalty: float = 1.0) -> None:
        self.penalty = penalty

    def score(self, observation: Observation, action: Action, state: State) -> float:
        """`-penalty` when the code has risky constructs, which are listed in the metadata."""
        findings = find_risky_code(getattr(action, "code", ""))
        if findings:
            observation.metadata["safety_findings"] = [
                f"line {finding.line}: {finding.what}" for finding in findings
            ]
            return -self.penalty
        return 0.0

    def __repr__(self) -> str:
        return f"CodeSafetyPenalty(penalty={self.penalty})"


class CodeQualityBonus(RewardTransform):
    """Up to `bonus`: a third each for code that parses, runs without an exception, and is concise.

    Concise means at most `max_lines` non-blank lines.
    """

    def __init__(self, bonus: float = 1.0, max_lines: int = 30) -> None:
        self.bonus = bonus
        self.max_lines = max_lines

    def score(self, observation: Observation, action: Action, state: State) -> float:
        """A third of `bonus` for each of: parses, runs without an exception, is concise."""
        code = getattr(action, "code", "")
        parses = _parses(code)
        runs = parses and bool(getattr(observation, "success", False))
        lines = [line for line in code.splitlines() if line.strip()]
        concise = parses and len(lines) <= self.max_lines
        return self.bonus * (parses + runs + concise) / 3

    def __repr__(self) -> str:
        return f"CodeQualityBonus(bonus={self.bonus}, max_lines={self.max_lines})"


def find_risky_code(code: str) -> list[SafetyFinding]:
    """Risky constructs in `code`: processes, string evaluation, risky imports, dunder escapes."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    findings = []
    for node in ast.walk(tree):
        what = _risk_of(node)
        if what:
            findings.append(SafetyFinding(line=getattr(node, "lineno", 0), what=what))
    return findings


def _risk_of(node: ast.AST) -> str | None:
    if isinstance(node, ast.Import):
        risky = [alias.name for alias in node.names if alias.name.split(".")[0] in RISKY_MODULES]
        return f"imports {', '.join(risky)}" if risky else None
    if isinstance(node, ast.ImportFrom):
        module = (node.module or "").split(".")[0]
        return f"imports from {node.module}" if module in RISKY_MODULES else None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return f"calls {node.func.id}()" if node.func.id in RISKY_CALLS else None
    if isinstance(node, ast.Attribute) and node.attr in ESCAPE_ATTRIBUTES:
        return f"uses .{node.attr}"
    return None


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True
