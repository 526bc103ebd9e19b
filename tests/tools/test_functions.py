import inspect

import pytest

from envtorch.tools import python_name, schema_function
from envtorch.tools.functions import input_schema

SCHEMA = {
    "type": "object",
    "properties": {
        "limit": {"type": "integer", "default": 10, "description": "At most this many."},
        "file-path": {"type": "string", "description": "Where to look."},
        "class": {"type": ["string", "null"], "enum": ["a", "b"]},
        "ratio": {"anyOf": [{"type": "number"}, {"type": "null"}]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "options": {"type": "object"},
        "flag": {"type": "boolean"},
        "anything": {},
    },
    "required": ["file-path", "flag"],
}


def echo_tool():
    return schema_function("search", "Search files.", SCHEMA, None, lambda arguments: arguments)


def test_signature_puts_required_first_and_maps_json_types():
    signature = inspect.signature(echo_tool())
    assert str(signature) == (
        "(file_path: str, flag: bool, limit: int = 10, class_: str | None = None, "
        "ratio: float | None = None, tags: list | None = None, options: dict | None = None, "
        "anything=None)"
    )


def test_docstring_lists_every_argument():
    assert echo_tool().__doc__ == (
        "Search files.\n\nArgs:\n"
        "    file_path (str): Where to look.\n"
        "    flag (bool)\n"
        "    limit (int, optional): At most this many. Defaults to 10.\n"
        "    class_ (str | None, optional): One of: 'a', 'b'.\n"
        "    ratio (float | None, optional)\n"
        "    tags (list, optional)\n"
        "    options (dict, optional)\n"
        "    anything (any, optional)"
    )


def test_arguments_go_out_under_their_schema_names():
    tool = echo_tool()
    assert tool("a/b", False) == {"file-path": "a/b", "flag": False}
    assert tool("x", True, 3, class_="a", tags=("t",), anything=[1]) == {
        "file-path": "x",
        "flag": True,
        "limit": 3,
        "class": "a",
        "tags": ["t"],
        "anything": [1],
    }
    assert tool("x", True, ratio=None, class_=None, tags=None) == {
        "file-path": "x",
        "flag": True,
        "ratio": None,
        "class": None,
    }


def test_values_of_the_wrong_json_type_are_refused():
    tool = echo_tool()
    with pytest.raises(TypeError, match="argument 'limit' must be int, not float"):
        tool("x", True, limit=1.5)
    with pytest.raises(TypeError, match="argument 'flag' must be bool, not int"):
        tool("x", 1)
    with pytest.raises(TypeError, match="argument 'ratio' must be float or None, not str"):
        tool("x", True, ratio="1")
    assert tool("x", True, ratio=2)["ratio"] == 2
    with pytest.raises(TypeError, match=r"search\(file_path: str.*missing a required argument"):
        tool()


def test_colliding_parameter_names_are_refused():
    schema = {"properties": {"a-b": {}, "a_b": {}}}
    with pytest.raises(ValueError, match="both map to the Python name 'a_b'"):
        schema_function("t", "", schema, None, dict)


def test_return_annotation_follows_the_output_schema():
    wrapped = {"properties": {"result": {"type": "integer"}}, "required": ["result"]}
    obj = {"type": "object", "additionalProperties": {"type": "number"}}
    assert inspect.signature(schema_function("t", "", {}, wrapped, dict)).return_annotation is int
    assert inspect.signature(schema_function("t", "", {}, obj, dict)).return_annotation is dict


@pytest.mark.parametrize(
    ("text", "name"),
    [("add", "add"), ("shout-text", "shout_text"), ("2fa", "_2fa"), ("class", "class_"), ("", "_")],
)
def test_python_name(text, name):
    assert python_name(text) == name


def test_input_schema_reads_parametrized_and_optional_annotations():
    def tool(names: list[int], table: dict[str, int], note: str | None = None, any_=None):
        """A tool."""

    assert input_schema(tool)["properties"] == {
        "names": {"type": "array"},
        "table": {"type": "object"},
        "note": {"type": ["string", "null"], "default": None},
        "any_": {"default": None},
    }
