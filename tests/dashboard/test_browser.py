"""The dashboard in a real browser: headless Chromium (Debian's chromium and chromium-driver, driven
by Selenium) against a real ``edgenas dashboard`` process. Each wait is explicit and bounded."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import add_trial, make_run, trial

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = "apt-get update && apt-get install -y chromium chromium-driver"
#: Without the background-networking flags Chromium's own connections are refused here and it stalls.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,1800",
)  # fmt: skip
#: Longest wait for anything the page should show (it polls every 2 s).
WAIT_S = 10


def chromium() -> Any:
    """A headless Chromium with a fresh profile, or a skip naming the packages to install."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip(f"headless browser tests need Debian's chromium and chromedriver: {INSTALL}")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="edgenas-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_S)
    driver.edgenas_profile = profile
    return driver


@pytest.fixture
def browser() -> Iterator[Any]:
    driver = chromium()
    yield driver
    driver.quit()
    shutil.rmtree(driver.edgenas_profile, ignore_errors=True)


def rows(driver: Any) -> list[Any]:
    return driver.find_elements(By.CSS_SELECTOR, "#trials tbody tr")


def wait_for(driver: Any, condition: Any, what: str) -> Any:
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(condition, message=f"waited {WAIT_S} s for {what}")


def test_the_run_page_shows_every_trial_of_the_run(tmp_path: Path, dashboard_of, browser) -> None:
    make_run(tmp_path / "a", [trial(0, 0.5), trial(1, None, 7.0), trial(2, 0.7, 3.0), trial(3, 0.6)])
    make_run(tmp_path / "b", [trial(0, 0.4)])  # another run: its trial is not counted on a's page
    d = dashboard_of(tmp_path)
    browser.get(f"{d.url}/")
    wait_for(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#runs tbody tr")) == 2, "the two runs listed")
    browser.find_element(By.LINK_TEXT, "a").click()
    wait_for(browser, lambda b: len(rows(b)) == 4, "four trial rows")
    assert browser.find_element(By.ID, "trial-count").text == "4"
    assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows(browser)] == ["0", "1", "2", "3"]
    assert "infeasible" in rows(browser)[1].text and "(estimated)" in rows(browser)[0].text
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#chart-latency .main-svg"), "the latency chart drawn")
    assert browser.find_element(By.ID, "state").text == "stopped"
    assert not browser.find_element(By.ID, "chart-energy").is_displayed()  # no trial has an energy figure
    profile = browser.find_elements(By.CSS_SELECTOR, "#profile tbody tr")  # the best model, operator by operator
    assert browser.find_element(By.ID, "profile").is_displayed() and profile
    assert "arm_fully_connected_s8" in profile[-1].text


def test_a_run_priced_in_energy_gets_its_accuracy_energy_chart(tmp_path: Path, dashboard_of, browser) -> None:
    priced = [
        dataclasses.replace(t, cost=dataclasses.replace(t.cost, energy_mj=0.1 * (n + 1)))
        for n, t in enumerate([trial(0, 0.5), trial(1, 0.6)])
    ]
    make_run(tmp_path / "a", priced)
    d = dashboard_of(tmp_path)
    browser.get(f"{d.url}/run/a")
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#chart-energy .main-svg"), "the energy chart drawn")
    assert browser.find_element(By.ID, "chart-energy").is_displayed()
    assert "energy mJ" in browser.find_element(By.ID, "chart-energy").text


def test_a_trial_that_lands_after_the_page_opened_appears_without_a_reload(tmp_path: Path, dashboard_of, browser) -> None:
    run = make_run(tmp_path / "a", [trial(0, 0.5), trial(1, 0.6)])
    d = dashboard_of(tmp_path)
    browser.get(f"{d.url}/run/a")
    wait_for(browser, lambda b: len(rows(b)) == 2, "the two trials stored before")
    browser.execute_script("window.edgenasSamePage = true")  # gone if the page were reloaded
    add_trial(run, trial(2, 0.9, 1.5))
    wait_for(browser, lambda b: len(rows(b)) == 3, "the trial written after the page opened")
    assert browser.execute_script("return window.edgenasSamePage") is True
    assert browser.find_element(By.ID, "trial-count").text == "3"
    wait_for(browser, lambda b: "trial 2: 90.0%" in b.find_element(By.ID, "fact-best").text, "the new best")


def test_a_folder_with_no_runs_says_so_and_shows_one_when_it_appears(tmp_path: Path, dashboard_of, browser) -> None:
    d = dashboard_of(tmp_path)
    browser.get(f"{d.url}/")
    message = browser.find_element(By.ID, "no-runs")
    assert message.is_displayed() and "No runs yet under" in message.text and str(tmp_path) in message.text
    make_run(tmp_path / "late", [trial(0)])
    wait_for(browser, lambda b: b.find_elements(By.LINK_TEXT, "late"), "the run that appeared")
    assert not browser.find_element(By.ID, "no-runs").is_displayed()


def test_an_unreadable_run_is_shown_as_such_beside_a_readable_one(tmp_path: Path, dashboard_of, browser) -> None:
    make_run(tmp_path / "good", [trial(0)])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "trials.db").write_bytes(b"not a database, but named like one" * 100)
    d = dashboard_of(tmp_path)
    browser.get(f"{d.url}/")
    states = {r.get_attribute("data-run"): r.find_element(By.CSS_SELECTOR, ".state").text for r in
              browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")}  # fmt: skip
    assert states == {"bad": "unreadable", "good": "stopped"}
    browser.get(f"{d.url}/run/bad")
    reason = browser.find_element(By.ID, "unreadable")
    assert reason.is_displayed() and "not an edgenas trial store" in reason.text
