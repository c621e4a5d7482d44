"""The operator console (/ui) in a real browser: Debian's chromium, headless, driven through
chromedriver by selenium (scripts/bootstrap.sh installs all three). Pages load without
console errors, a run started from the page appears and its curve grows live (over the
run's event stream), and changes need the API token.

ESPER_CONSOLE_SCREENSHOTS=<dir> keeps screenshots of the pages for a look."""
from __future__ import annotations

import os
import shutil
import tempfile
import time

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM and CHROMEDRIVER, "chromium and chromium-driver are missing: scripts/bootstrap.sh installs them"
    profile = tempfile.mkdtemp(prefix="esper-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1600", f"--user-data-dir={profile}", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def errors(driver, allowed: tuple[str, ...] = ()) -> list[str]:
    """The browser console's errors since the last call (the log is drained by reading)."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and not any(a in entry["message"] for a in allowed)]


def screenshot(driver, name: str) -> None:
    directory = os.environ.get("ESPER_CONSOLE_SCREENSHOTS")
    if directory:
        os.makedirs(directory, exist_ok=True)
        driver.save_screenshot(os.path.join(directory, name + ".png"))


def wait(driver, predicate, seconds: float = 30):
    return WebDriverWait(driver, seconds, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: predicate(d))


def open_page(driver, url: str, hash_: str, ready_id: str):
    driver.get(url + "/ui" + hash_)
    wait(driver, lambda d: d.find_elements(By.ID, ready_id))


def set_token(driver, token: str):
    field = driver.find_element(By.ID, "token")
    field.clear()
    field.send_keys(token)
    driver.find_element(By.ID, "token-save").click()
    wait(driver, lambda d: d.find_element(By.ID, "token-state").text == ("token set" if token else "read-only"))


def fill_run_form(driver, epochs: int):
    Select(driver.find_element(By.ID, "new-dataset")).select_by_value("digits")
    Select(driver.find_element(By.ID, "new-policy")).select_by_value("heuristic")
    for field, value in [("new-hidden", "64"), ("new-epochs", str(epochs)), ("new-lr", "0.01"), ("new-name", "from-the-console")]:
        element = driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)


def points(driver) -> int:
    return int(driver.find_element(By.ID, "curves").get_attribute("data-points") or 0)


def test_every_page_loads_without_console_errors(server, browser):
    for hash_, ready in [("#/runs", "runs-body"), ("#/studies", "studies-body"), ("#/alerts", "alerts-body"),
                         ("#/forge", "blueprints-body"), ("#/controller", "mode-on")]:
        open_page(browser, server["url"], hash_, ready)
        time.sleep(1.0)  # let the page's first API calls answer
        assert errors(browser) == [], hash_
        screenshot(browser, hash_.strip("#/"))
    # The page is served same-origin only, and nothing it loads comes from elsewhere.
    response = requests.get(server["url"] + "/ui", timeout=5)
    assert response.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "http" not in response.text.replace(server["url"], "").split("<body>")[0]


def test_changes_need_the_token_and_a_run_started_from_the_page_grows_live(server, browser):
    url, token = server["url"], server["token"]
    before = requests.get(url + "/api/v1/runs?limit=500", timeout=5).json()["items"]
    open_page(browser, url, "#/runs", "new-run")
    set_token(browser, "")
    errors(browser)

    # Without the token the server refuses, the page says why, and nothing was created.
    fill_run_form(browser, 400)
    browser.find_element(By.ID, "new-run-submit").click()
    wait(browser, lambda d: "API token" in d.find_element(By.ID, "notice").text)
    assert "401" in browser.find_element(By.ID, "notice").text
    assert len(requests.get(url + "/api/v1/runs?limit=500", timeout=5).json()["items"]) == len(before)
    assert errors(browser, allowed=("status of 401",)) == []

    # With it the run starts and the page follows it.
    set_token(browser, token)
    browser.find_element(By.ID, "new-run-submit").click()
    wait(browser, lambda d: d.current_url.split("#")[-1].startswith("/run/"))
    run_id = browser.current_url.split("/run/")[-1]
    run = requests.get(f"{url}/api/v1/runs/{run_id}", timeout=5).json()
    assert run["name"] == "from-the-console" and run["config"]["epochs"] == 400

    # The curve grows while the run trains: epochs arrive over the event stream.
    first = wait(browser, lambda d: points(d) >= 2 and points(d), 60)
    wait(browser, lambda d: points(d) >= first + 3, 60)
    assert browser.find_elements(By.CSS_SELECTOR, "#event-log li.event-epoch")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#architecture-svg rect.layer")) == 4  # input, hidden 0, slot-0, output
    # Tamiyo's heuristic grafts a seed into slot-0 after the warm-up: its stages appear on the timeline.
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#timeline-svg rect.stage"), 90)
    screenshot(browser, "run")

    # Stop needs the token too: without it the run keeps going.
    set_token(browser, "")
    browser.find_element(By.ID, "run-stop").click()
    wait(browser, lambda d: "API token" in d.find_element(By.ID, "notice").text)
    assert requests.get(f"{url}/api/v1/runs/{run_id}", timeout=5).json()["status"] in ("queued", "running")
    set_token(browser, token)
    browser.find_element(By.ID, "run-stop").click()
    wait(browser, lambda d: d.find_element(By.ID, "run-status").text == "cancelled", 60)
    assert requests.get(f"{url}/api/v1/runs/{run_id}", timeout=5).json()["status"] == "cancelled"
    assert errors(browser, allowed=("status of 401",)) == []

    # The runs list shows it with its status and accuracy.
    open_page(browser, url, "#/runs", "runs-body")
    row = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-run="{run_id}"]'))[0]
    assert "cancelled" in row.text and "%" in row.find_element(By.CLASS_NAME, "accuracy").text
    Select(browser.find_element(By.ID, "runs-status")).select_by_value("succeeded")
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, f'tr[data-run="{run_id}"]'))
    assert errors(browser) == []


def test_alerts_are_acknowledged_and_conservative_mode_switched_from_the_page(server, browser):
    url, token = server["url"], server["token"]
    headers = {"Authorization": "Bearer " + token}
    assert requests.post(url + "/api/v1/nissa/drills/tezzeret_compile_retry_high", headers=headers, timeout=30).status_code == 200
    open_page(browser, url, "#/alerts", "alerts-body")
    set_token(browser, token)
    row = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#alerts-body tr[data-alert]"))[0]
    alert_id = row.get_attribute("data-alert")
    browser.find_element(By.ID, "operator").send_keys("console-test")

    def click_ack(d):  # the table is redrawn every few seconds: find the button afresh
        try:
            d.find_element(By.CSS_SELECTOR, f'tr[data-alert="{alert_id}"] button.ack').click()
            return True
        except StaleElementReferenceException:
            return False
    wait(browser, click_ack)
    wait(browser, lambda d: "console-test" in d.find_element(By.CSS_SELECTOR, f'tr[data-alert="{alert_id}"] .acked').text)
    assert requests.get(f"{url}/api/v1/nissa/alerts/{alert_id}", timeout=5).json()["acknowledged_by"] == "console-test"

    open_page(browser, url, "#/controller", "mode-on")
    browser.find_element(By.ID, "mode-reason").send_keys("console test")
    browser.find_element(By.ID, "mode-on").click()
    wait(browser, lambda d: d.find_elements(By.ID, "mode-value") and d.find_element(By.ID, "mode-value").text == "on")
    assert requests.get(url + "/api/v1/tamiyo/mode", timeout=5).json()["conservative"] is True
    browser.find_element(By.ID, "mode-off").click()
    wait(browser, lambda d: d.find_element(By.ID, "mode-value").text == "off")
    assert errors(browser) == []


def test_a_study_shows_its_groups_verdicts_and_curves(server, browser):
    """A small study (two seeds, a no_growth control) is listed on #/studies and its page shows
    a row per group, the arm's verdicts against the control and a curve per group."""
    url, token = server["url"], server["token"]
    base = {"dataset": {"kind": "two_moons", "samples": 200}, "epochs": 4, "learning_rate": 0.01}
    body = {"name": "console study", "base": base, "arms": [{"name": "wide", "overrides": {"model": {"hidden_sizes": [16]}}}],
            "seeds": [1, 2], "controls": ["no_growth"]}
    created = requests.post(url + "/api/v1/studies", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert created.status_code == 202, created.text
    study_id = created.json()["id"]
    deadline = time.monotonic() + 120
    while requests.get(url + f"/api/v1/studies/{study_id}", timeout=5).json()["status"] != "completed":
        assert time.monotonic() < deadline, "the study did not complete"
        time.sleep(0.5)
    open_page(browser, url, "#/studies", "studies-body")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-study="{study_id}"]'))
    browser.find_element(By.CSS_SELECTOR, f'tr[data-study="{study_id}"] a').click()
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#study-groups tr[data-group]")) == 2)
    groups = [row.get_attribute("data-group") for row in browser.find_elements(By.CSS_SELECTOR, "#study-groups tr[data-group]")]
    assert groups == ["wide", "wide/no_growth"]
    wait(browser, lambda d: d.find_element(By.ID, "study-curves").get_attribute("data-groups") == "2")
    assert int(browser.find_element(By.ID, "study-curves").get_attribute("data-points")) == 4
    verdicts = browser.find_element(By.ID, "study-verdicts").text
    assert "no_growth" in verdicts and any(word in verdicts for word in ("better", "worse", "not distinguishable"))
    assert errors(browser) == []
    screenshot(browser, "study")


def test_a_study_page_shows_test_accuracy_and_training_flops(server, browser):
    """The group table shows the summary's final test accuracy (a digits study with a fixed test
    split) and training FLOPs (mean over seeds, with an SI prefix), as the summary gives them."""
    url, token = server["url"], server["token"]
    base = {"dataset": {"kind": "digits", "test_rows": 300}, "model": {"hidden_sizes": [8]}, "epochs": 2, "learning_rate": 0.01}
    body = {"name": "console test split", "base": base, "arms": [{"name": "a"}], "seeds": [1]}
    created = requests.post(url + "/api/v1/studies", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert created.status_code == 202, created.text
    study_id = created.json()["id"]
    deadline = time.monotonic() + 120
    while (summary := requests.get(url + f"/api/v1/studies/{study_id}", timeout=5).json())["status"] != "completed":
        assert time.monotonic() < deadline, "the study did not complete"
        time.sleep(0.5)
    statistics = summary["groups"][0]["statistics"]
    test_accuracy = statistics["final_test_accuracy"]["mean"]
    flops = statistics["training_flops"]["mean"]
    assert flops > 0
    open_page(browser, url, f"#/study/{study_id}", "study-groups")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#study-groups tr[data-group="a"]'))
    headers = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#study-groups")[0]
               .find_elements(By.XPATH, "../thead//th")]
    assert "Final test accuracy" in headers and "Training FLOPs" in headers
    row = browser.find_element(By.CSS_SELECTOR, '#study-groups tr[data-group="a"]')
    assert row.find_element(By.CSS_SELECTOR, 'td[data-column="final_test_accuracy"]').text == f"{test_accuracy * 100:.1f} %"
    scale, prefix = next((s, p) for s, p in [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")] if flops >= s)
    assert row.find_element(By.CSS_SELECTOR, 'td[data-column="training_flops"]').text == f"{flops / scale:.2f} {prefix}FLOP"
    assert errors(browser) == []
