"""`envtorch view FILE` on a run of 10,000 trajectories: its JSON API, and the page in a real
headless Chromium (list, filter, step through an episode, a group side by side, the plot)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.web.test_play_page import by_id, text_of, wait_for
from tests.web.trajectories import write_run

pytestmark = pytest.mark.timeout(120)

EPISODES = 10_000


def view(*arguments: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "envtorch", "view", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def viewer(tmp_path_factory):
    """`envtorch view` serving 10,000 trajectories; yields its URL."""
    path = write_run(tmp_path_factory.mktemp("run") / "run.jsonl", EPISODES)
    server = view(str(path), "--port", "0")
    try:
        line = server.stdout.readline()
        assert line.startswith("envtorch serving on http://127.0.0.1:"), server.stderr.read()
        yield line.split()[-1]
    finally:
        server.terminate()
        server.communicate(timeout=30)


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_api_serves_slices_of_the_file(viewer):
    status, summary = get(f"{viewer}/api/summary")
    assert status == 200
    assert (summary["count"], summary["groups"], summary["failures"]) == (10_000, 1250, 104)
    assert len(summary["batches"]) == 157
    assert summary["batches"][0]["terms"]["format"] == 0.5

    _, page = get(f"{viewer}/api/trajectories?failed=yes&limit=10&offset=100")
    assert page["total"] == 104 and len(page["trajectories"]) == 4
    _, page = get(f"{viewer}/api/trajectories?group=42&sort=episode&order=descending")
    assert [item["episode"] for item in page["trajectories"]] == list(range(343, 335, -1))
    _, page = get(f"{viewer}/api/trajectories?batch=3&min_reward=1&max_steps=1")
    assert {(item["batch"], item["reward"], item["steps"]) for item in page["trajectories"]} == {
        (3, 1.0, 1)
    }

    _, whole = get(f"{viewer}/api/trajectories/9999")
    assert whole["summary"]["episode"] == 9999
    assert whole["row"]["steps"][0]["action"]["code"] == "print('step 1 of episode 9999')"
    _, group = get(f"{viewer}/api/groups/1249")
    assert group["size"] == 8 and len(group["trajectories"]) == 8


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/api/trajectories?limit=100000", 400, "limit must be between 1 and 500"),
        ("/api/trajectories?sort=secret", 400, "sort must be one of"),
        ("/api/trajectories?min_reward=nan", 400, "min_reward must be a number"),
        ("/api/trajectories?group=x", 400, "group must be an integer"),
        ("/api/trajectories?colour=red", 400, "unknown parameter 'colour'"),
        ("/api/trajectories/10000", 404, "the file holds 10000"),
        ("/api/trajectories/-1", 404, "no trajectory -1"),
        ("/api/groups/5000", 404, "no trajectory in group 5000"),
    ],
)
def test_bad_requests_get_a_reason(viewer, path, status, words):
    code, body = get(viewer + path)
    assert code == status and words in body["error"]


def test_a_file_that_cannot_be_read_is_one_line_and_status_2(tmp_path):
    server = view(str(tmp_path / "absent.jsonl"), "--port", "0")
    out, err = server.communicate(timeout=60)
    assert server.returncode == 2 and out == ""
    assert (
        err.strip()
        == f"envtorch view: error: {tmp_path / 'absent.jsonl'}: no such file or directory"
    )


def members(browser) -> list:
    return browser.find_elements("css selector", "#group-grid .member")


def rows(browser) -> list:
    return browser.find_elements("css selector", "#episodes tbody tr")


def test_browse_10000_trajectories(viewer, browser, screenshot):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    browser.get(viewer)
    wait_for(browser, lambda driver: len(rows(driver)) == 50)
    assert text_of(browser, "page") == "1-50 of 10000"
    assert "10000 trajectories · 1250 groups · 157 batches · 104 failed" in text_of(
        browser, "totals"
    )
    plot = by_id(browser, "reward-plot")
    assert len(plot.find_elements("css selector", "polyline")) == 3
    assert text_of(browser, "legend").split("\n") == ["mean reward", "correct", "format"]
    screenshot("view-list")

    Select(browser.find_element("name", "failed")).select_by_visible_text("yes")
    browser.find_element("name", "min_steps").send_keys("2", Keys.ENTER)
    wait_for(browser, lambda driver: text_of(driver, "match-count") == "69 match")
    assert all("env.step raised OSError" in row.text for row in rows(browser))
    by_id(browser, "next").click()
    wait_for(browser, lambda driver: text_of(driver, "page") == "51-69 of 69")

    browser.find_element("css selector", "#filters button[type=reset]").click()
    wait_for(browser, lambda driver: text_of(driver, "page") == "1-50 of 10000")
    rows(browser)[2].click()
    wait_for(browser, lambda driver: text_of(driver, "step-position") == "step 1 of 3")
    assert "print('step 1 of episode 2')" in text_of(browser, "step-action")
    assert "step 1 of episode 2" in text_of(browser, "step-result")
    browser.find_element("tag name", "body").send_keys(Keys.ARROW_RIGHT)
    wait_for(browser, lambda driver: text_of(driver, "step-position") == "step 2 of 3")
    by_id(browser, "step-next").click()
    wait_for(
        browser, lambda driver: "print('step 3 of episode 2')" in text_of(driver, "step-action")
    )
    assert "reward_terms" in text_of(browser, "step-result")
    browser.execute_script("window.scrollTo(0, 0)")
    screenshot("view-episode")

    browser.get(f"{viewer}/#group=1249")
    wait_for(
        browser,
        lambda driver: len(driver.find_elements("css selector", "#group-grid .member")) == 8,
    )
    assert text_of(browser, "detail-title") == "Group 1249: 8 episodes"
    screenshot("view-group")
