"""Host tools called from inside the sandbox through stubs."""

import inspect

import pytest

pytestmark = pytest.mark.timeout(60)


def search(query: str, limit: int = 3) -> list[str]:
    """Search the catalogue for `query`."""
    return [f"{query}-{index}" for index in range(limit)]


def fail(kind: str) -> None:
    """Raise an error of `kind`."""
    if kind == "value":
        raise ValueError("bad value from the host")
    raise LookupError("custom host failure")


class Counter:
    def __init__(self):
        self.calls = 0

    def __call__(self, amount: int = 1) -> int:
        """Count calls."""
        self.calls += amount
        return self.calls


def opaque():
    """Return a host object."""
    return object()


@pytest.fixture
def tooled(sandbox):
    counter = Counter()
    tools = {"search": search, "fail": fail, "count": counter, "opaque": opaque}
    with sandbox.open(tools=tools) as session:
        yield session, counter


def test_tools_are_called_with_json_arguments_and_results(tooled):
    session, counter = tooled
    result = session.execute("hits = search('cat', limit=2)\nhits + [count(), count(amount=5)]")
    assert result.value == ["cat-0", "cat-1", 1, 6]
    assert counter.calls == 6


def test_many_tool_calls_chain_in_one_execution(tooled):
    session, counter = tooled
    result = session.execute("for _ in range(50):\n    count()\ncount(0)")
    assert result.value == 50 and counter.calls == 50


def test_stubs_carry_the_host_signature_and_docstring(tooled):
    session, _ = tooled
    result = session.execute("import inspect\nstr(inspect.signature(search)), search.__doc__")
    assert result.value == [
        "(query: str, limit: int = 3) -> list[str]",
        "Search the catalogue for `query`.",
    ]
    listing = session.execute("list_tools()").value
    assert "def search(query: str, limit: int = 3) -> list[str]:" in listing
    assert '"""Search the catalogue for `query`."""' in listing
    assert "def count(amount: int = 1) -> int:" in listing


def test_wrong_arguments_fail_inside_before_reaching_the_host(tooled):
    session, counter = tooled
    result = session.execute("count(1, 2, 3)")
    assert result.exception.type == "TypeError"
    assert counter.calls == 0


def test_host_errors_are_raised_inside(tooled):
    session, _ = tooled
    result = session.execute("fail('value')")
    assert result.exception.type == "ValueError"
    assert "bad value from the host" in result.exception.message
    result = session.execute(
        "try:\n    fail('lookup')\nexcept LookupError as e:\n    caught = e\nstr(caught)"
    )
    assert "custom host failure" in result.value


def test_non_json_values_never_cross(tooled, bystander):
    session, _ = tooled
    assert session.execute("search(object())").exception.type == "TypeError"
    result = session.execute("opaque()")
    assert result.exception is not None
    assert "object" in result.exception.message


def test_nan_and_infinities_never_cross_as_null(sandbox):
    received = []

    def echo(value):
        """Return `value`."""
        received.append(value)
        return value

    def spoil() -> dict:
        """Return a NaN inside a dict."""
        return {"loss": float("nan")}

    with sandbox.open(tools={"echo": echo, "spoil": spoil}) as session:
        for code in ("echo(float('nan'))", "echo([1.0, float('inf')])", "echo({'a': -1e999})"):
            result = session.execute(code)
            assert result.exception.type == "TypeError", code
            assert "NaN and infinities are not JSON" in result.exception.message
        assert received == []
        result = session.execute("spoil()")
        assert result.exception.type == "ValueError"
        assert "NaN and infinities are not JSON" in result.exception.message
        assert session.execute("echo(['null', None, 2.5])").value == ["null", None, 2.5]


def kind(city: str, tags: list[str] | None = None, scale: float = 1.0) -> str:
    """The type the host received."""
    return type(city).__name__


def test_arguments_of_the_wrong_json_type_are_refused_on_the_host(sandbox):
    with sandbox.open(tools={"kind": kind}) as session:
        for code, name, expected in [
            ("kind(5)", "city", "str, not int"),
            ("kind(None)", "city", "str, not NoneType"),
            ("kind('a', {'b': 1})", "tags", "list or None, not dict"),
            ("kind('a', scale='2')", "scale", "float, not str"),
            ("kind('a', scale=True)", "scale", "float, not bool"),
        ]:
            result = session.execute(code)
            assert result.exception.type == "TypeError", code
            assert result.exception.message == f"kind() argument {name!r} must be {expected}"
        forged = session.execute("list_tools.__self__.call_tool('kind', ([1],), {})")
        assert "argument 'city' must be str, not list" in forged.exception.message
        assert session.execute("kind('a', ['b'], 2)").value == "str"
        assert session.execute("kind(city='a', tags=None, scale=0.5)").value == "str"


def test_no_host_object_is_reachable_from_a_stub(tooled, bystander):
    session, _ = tooled
    code = (
        "cells = [c.cell_contents for c in search.__closure__]\n"
        "[type(c).__module__ + '.' + type(c).__qualname__ for c in cells]"
    )
    kinds = session.execute(code).value
    assert all(kind.startswith(("guest.", "builtins.", "inspect.")) for kind in kinds), kinds


def test_an_unregistered_tool_is_a_name_error(tooled, bystander):
    session, counter = tooled
    assert session.execute("delete_everything()").exception.type == "NameError"
    forged = session.execute("list_tools.__self__.call_tool('delete_everything', (), {})")
    assert forged.exception.type == "NameError"
    assert "no tool named 'delete_everything'" in forged.exception.message
    assert counter.calls == 0


def test_sessions_without_tools_still_list_them(session):
    assert session.execute("list_tools()").value == ""


def test_bad_tool_registrations_are_refused(sandbox):
    with pytest.raises(ValueError, match="identifier"):
        sandbox.open(tools={"not valid": search})
    with pytest.raises(ValueError, match="reserved"):
        sandbox.open(tools={"list_tools": search})
    with pytest.raises(TypeError, match="callable"):
        sandbox.open(tools={"x": 3})


def test_oversized_tool_arguments_fail_inside(tooled):
    session, counter = tooled
    result = session.execute("search('q' * (40 << 20))")
    assert result.exception.type == "ValueError" and not result.killed
    assert session.execute("count()").value == 1 == counter.calls


class QuotaExceeded(Exception):
    pass


def test_other_host_errors_become_tool_errors_named_once(sandbox):
    from envtorch.tools import ToolError

    def refused() -> None:
        """An MCP-style failure."""
        raise ToolError("server said no")

    def over_quota() -> None:
        """A library's own exception."""
        raise QuotaExceeded("try tomorrow")

    with sandbox.open(tools={"refused": refused, "over_quota": over_quota}) as session:
        refusal = session.execute("refused()").exception
        assert (refusal.type, refusal.message) == ("ToolError", "server said no")
        quota = session.execute("over_quota()").exception
        assert (quota.type, quota.message) == ("ToolError", "QuotaExceeded: try tomorrow")


class Described:
    """A tool that counts how often its signature is read."""

    def __init__(self):
        self.reads = 0

    @property
    def __signature__(self):
        self.reads += 1
        return inspect.Signature([inspect.Parameter("x", inspect.Parameter.POSITIONAL_OR_KEYWORD)])

    def __call__(self, x):
        return x


def test_tools_are_described_once_per_open(sandbox):
    tool = Described()
    with sandbox.open(tools={"echo": tool}) as session:
        assert session.execute("echo(5)").value == 5
    assert tool.reads == 1


def test_a_fork_calls_the_host_functions_it_binds_under_the_same_names(sandbox):
    with sandbox.open(tools={"who": lambda: "parent"}) as session:
        [copy] = session.fork(1)
        try:
            assert copy.execute("who()").value == "parent"
            copy.bind_tools({"who": lambda: "copy"})
            assert [copy.execute("who()").value, session.execute("who()").value] == [
                "copy",
                "parent",
            ]
            with pytest.raises(ValueError, match=r"tool names \['who'\], got \['whom'\]"):
                copy.bind_tools({"whom": lambda: "copy"})
        finally:
            copy.close()
