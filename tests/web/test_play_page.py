"""The `/web` page in a real headless Chromium: play a sandboxed Python episode, a typed action
form with a picture frame and hidden state, and a server that wants its bearer token."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from envtorch import Action, Environment, Observation, State, hidden
from envtorch.envs.math import AnswerReward
from envtorch.envs.python import PythonEnv
from envtorch.server import create_app, serve_in_thread

pytestmark = pytest.mark.timeout(120)


def wait_for(browser, predicate, timeout: float = 30.0):
    """Poll `predicate` until it holds; an element the page re-rendered mid-read is read again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(
        browser, timeout, ignored_exceptions=(StaleElementReferenceException,)
    ).until(lambda driver: predicate(driver))


def by_id(browser, name: str):
    from selenium.webdriver.common.by import By

    return browser.find_element(By.ID, name)


def text_of(browser, name: str) -> str:
    return by_id(browser, name).text


def field(browser, panel: str, name: str) -> str:
    """The text of field `name` in the table of `panel` (observation, state, metadata)."""
    return browser.find_element("css selector", f'#{panel} tr[data-field="{name}"] td').text


def press(browser, button: str) -> None:
    """Click `button` (reset or step) and wait until the page has every reply."""
    by_id(browser, button).click()
    wait_for(browser, lambda driver: driver.execute_script("return !document.body.dataset.busy"))


def open_play_page(browser, url: str) -> None:
    browser.get(f"{url}/web")
    wait_for(browser, lambda driver: by_id(driver, "reset").is_enabled())


def test_play_a_python_episode(browser, screenshot):
    app = create_app(lambda: PythonEnv(render_mode="ansi", transform=AnswerReward()))
    with serve_in_thread(app) as url:
        open_play_page(browser, url)
        assert text_of(browser, "env-name") == "python"
        by_id(browser, "task-box").click()
        by_id(browser, "task").send_keys(json.dumps({"question": "What is 6 * 7?", "answer": 42}))
        press(browser, "reset")
        wait_for(browser, lambda driver: "What is 6 * 7?" in text_of(driver, "observation"))

        by_id(browser, "field-code").send_keys("n = 6\n1 / 0")
        press(browser, "step")
        wait_for(
            browser, lambda driver: "ZeroDivisionError" in field(driver, "observation", "exception")
        )
        assert text_of(browser, "done") == "done false"

        by_id(browser, "field-code").clear()
        by_id(browser, "field-code").send_keys("for k in [7]:\nprint(n * k)")
        assert by_id(browser, "field-code").get_attribute("value") == (
            "for k in [7]:\n    print(n * k)"
        )
        press(browser, "step")
        wait_for(browser, lambda driver: text_of(driver, "reward") == "reward 1")

        assert field(browser, "observation", "stdout") == "42"
        assert text_of(browser, "done") == "done true"
        assert not by_id(browser, "step").is_enabled()
        assert "print(n * k)" in text_of(browser, "frame")
        assert field(browser, "state", "task") == "hidden by the environment"
        assert field(browser, "state", "step_count") == "2"
        assert "answer" not in text_of(browser, "state")
        assert text_of(browser, "history").splitlines()[-1] == "for k in [7]: → reward 1"
        screenshot("web-play-python")


@dataclass(kw_only=True)
class MoveAction(Action):
    direction: Literal["left", "right"]
    steps: int = 1
    fast: bool = False
    note: str | None = None


@dataclass(kw_only=True)
class MoveObservation(Observation):
    position: int = 0
    heard: dict[str, Any] | None = None


@dataclass(kw_only=True)
class MoveState(State):
    position: int = 0
    treasure: int = hidden(default=0)


class MoveEnv(Environment[MoveAction, MoveObservation, MoveState]):
    """Walk a line of 8 cells to a hidden treasure; the frame is a picture of the line, a numpy
    array as an `rgb_array` render returns it."""

    action_type = MoveAction
    observation_type = MoveObservation
    state_type = MoveState
    metadata = {"name": "move", "render_modes": ["rgb_array"]}

    def _reset(self, *, seed: int | None, task: Any) -> MoveObservation:
        self.state.treasure = 7
        return MoveObservation()

    def _step(self, action: MoveAction) -> MoveObservation:
        sign = 1 if action.direction == "right" else -1
        self.state.position = max(0, min(7, self.state.position + sign * action.steps))
        found = self.state.position == self.state.treasure
        heard = {"direction": action.direction, "fast": action.fast, "note": action.note}
        return MoveObservation(
            position=self.state.position, heard=heard, reward=float(found), done=found
        )

    def _render(self) -> Any:
        import numpy

        line = [[0, 160, 0] if x == self.state.position else [240, 240, 240] for x in range(8)]
        return numpy.array([line, line], dtype=numpy.uint8)


def test_a_typed_action_form_a_picture_frame_and_hidden_state(browser, screenshot):
    from selenium.webdriver.support.ui import Select

    with serve_in_thread(create_app(lambda: MoveEnv(render_mode="rgb_array"))) as url:
        open_play_page(browser, url)
        assert by_id(browser, "field-direction").tag_name == "select"
        assert by_id(browser, "field-fast").get_attribute("type") == "checkbox"
        assert by_id(browser, "field-steps").get_attribute("value") == "1"
        press(browser, "reset")
        wait_for(browser, lambda driver: field(driver, "observation", "position") == "0")

        Select(by_id(browser, "field-direction")).select_by_visible_text("right")
        by_id(browser, "field-steps").clear()
        by_id(browser, "field-steps").send_keys("3")
        by_id(browser, "field-fast").click()
        by_id(browser, "field-note").send_keys("hello")
        press(browser, "step")
        wait_for(browser, lambda driver: field(driver, "observation", "position") == "3")

        heard = field(browser, "observation", "heard")
        assert '"fast": true' in heard and '"note": "hello"' in heard
        image = wait_for(
            browser, lambda driver: by_id(driver, "frame").find_element("css selector", "img")
        )
        assert image.get_attribute("src").startswith("data:image/png;base64,")
        assert browser.execute_script("return arguments[0].naturalWidth", image) == 8
        assert field(browser, "state", "treasure") == "hidden by the environment"
        assert field(browser, "state", "position") == "3"
        screenshot("web-play-typed")

        by_id(browser, "field-steps").clear()
        by_id(browser, "field-steps").send_keys("1.5")
        press(browser, "step")
        wait_for(browser, lambda driver: "integer" in text_of(driver, "action-error"))

        by_id(browser, "field-steps").clear()
        by_id(browser, "field-steps").send_keys("4")
        press(browser, "step")
        wait_for(browser, lambda driver: text_of(driver, "done") == "done true")
        assert not by_id(browser, "step").is_enabled()


def test_a_server_with_a_token_asks_for_it(browser, monkeypatch):
    monkeypatch.setenv("ENVTORCH_TOKEN", "web s3cret/+")
    with serve_in_thread(create_app(lambda: MoveEnv())) as url:
        browser.get(f"{url}/web")
        wait_for(browser, lambda driver: by_id(driver, "token-panel").is_displayed())
        by_id(browser, "token").send_keys("wrong")
        by_id(browser, "token").submit()
        wait_for(browser, lambda driver: "refused" in text_of(driver, "token-error"))
        by_id(browser, "token").clear()
        by_id(browser, "token").send_keys("web s3cret/+")
        by_id(browser, "token").submit()
        wait_for(browser, lambda driver: by_id(driver, "reset").is_enabled())
        press(browser, "reset")
        wait_for(browser, lambda driver: field(driver, "observation", "position") == "0")
        browser.execute_script("sessionStorage.clear()")
