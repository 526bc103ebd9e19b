import pytest

from envtorch.core.jsontypes import check_arguments, json_types, signature_of


def test_json_types_of_annotations():
    assert json_types(str) == ("string",)
    assert json_types(float | None) == ("number", "null")
    assert json_types(list[dict[str, int]]) == ("array",)
    assert json_types(dict) == ("object",)
    assert json_types(set[int]) == ()
    assert json_types(str | bytes) == ()
    assert json_types("str") == ()


def test_check_arguments_names_the_wrong_argument_and_lets_the_rest_through():
    def tool(city: str, count: int = 1, note: str = None, *rest: int, **extra: str):  # noqa: RUF013
        """A tool."""

    check_arguments("tool", signature_of(tool), ("paris", 2, None, "x"), {"other": 5})
    with pytest.raises(TypeError, match=r"^tool\(\) argument 'count' must be int, not float$"):
        check_arguments("tool", signature_of(tool), ("paris", 2.0), {})
    with pytest.raises(TypeError, match="argument 'city' must be str, not NoneType"):
        check_arguments("tool", signature_of(tool), (), {"city": None})
    check_arguments("tool", signature_of(tool), (1, 2, 3, 4, 5), {"unknown": 1, "city": 2})
    check_arguments("len", signature_of(len), ([1],), {})
    check_arguments("tool", signature_of(lambda city: city), (5,), {})
