"""What does the dashboard look like while a search runs? A screenshot taken by headless Chromium.

Starts a small real search in the background (``edgenas search --budget 6 --epochs 1
--train-subset 200``), starts ``edgenas dashboard`` on its folder, waits until the store holds at
least one trial while the search still runs, opens the run's page in headless Chromium (Debian's
``chromium`` and ``chromium-driver``, through Selenium), waits until the page shows the trials,
and saves a screenshot:

    python benchmarks/dashboard_screenshot.py [--out benchmarks/results/dashboard.png]

Prints what it did: the commands, how many trials the store and the page held, whether the search
was still running when the screenshot was taken. Needs the ``dashboard`` extra and selenium.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,2000",
)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check, timeout: float, proc: subprocess.Popen | None = None):  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the process for {what} ended first (exit {proc.returncode})")
        time.sleep(0.25)
    raise SystemExit(f"gave up waiting for {what} after {timeout:.0f} s")


def _trials_in_store(api: str) -> int:
    try:
        answer = httpx.get(api, timeout=5.0)
    except httpx.TransportError:
        return 0
    if answer.status_code != 200:
        return 0
    return sum(1 for t in answer.json().get("trial_rows", []) if t["role"] == "search")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "dashboard.png")
    parser.add_argument("--timeout", type=float, default=300.0, help="Longest wait for the first trial, seconds.")
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    work = Path(tempfile.mkdtemp(prefix="edgenas-dashboard-"))
    runs = work / "runs"
    search_cmd = [sys.executable, "-m", "edgenas.cli", "search", "--budget", "6", "--epochs", "1", "--train-subset", "200"]
    search_cmd += ["--out", str(runs / "demo")]
    port = _free_port()
    dash_cmd = [sys.executable, "-m", "edgenas.cli", "dashboard", str(runs), "--port", str(port)]
    runs.mkdir(parents=True)
    print("$", " ".join(search_cmd[2:]).replace(str(work), "TMP"))
    search = subprocess.Popen(search_cmd, stdout=subprocess.DEVNULL, stderr=open(work / "search.log", "wb"), cwd=work)
    print("$", " ".join(dash_cmd[2:]).replace(str(work), "TMP"))
    dashboard = subprocess.Popen(dash_cmd, stdout=subprocess.DEVNULL, stderr=open(work / "dashboard.log", "wb"))
    url = f"http://127.0.0.1:{port}"
    driver = None
    try:
        _wait("the dashboard", lambda: _up(url), 30, dashboard)
        api = f"{url}/api/runs/demo"
        started = time.monotonic()
        stored = _wait("the first trial in the store", lambda: _trials_in_store(api), args.timeout, search)
        print(f"first trial in the store after {time.monotonic() - started:.1f} s ({stored} stored)")
        trained = _wait_trained(api, search, args.timeout)
        print(f"{trained} trained trial(s) in the store after {time.monotonic() - started:.1f} s")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={work / 'chromium'}")
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.get(f"{url}/run/demo")
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#trials tbody tr"))
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#chart-latency .main-svg"))
        time.sleep(1.0)  # let Plotly finish laying out
        shown = len([r for r in driver.find_elements(By.CSS_SELECTOR, "#trials tbody tr") if "search" in r.text])
        state = driver.find_element(By.ID, "state").text
        args.out.parent.mkdir(parents=True, exist_ok=True)
        height = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
        driver.set_window_size(1400, min(int(height) + 200, 5000))  # the whole page in one picture
        time.sleep(1.0)
        driver.save_screenshot(str(args.out))
        running = search.poll() is None
        print(f"page showed {shown} search trial(s), run state '{state}'; search still running: {running}")
        print(f"screenshot: {args.out}")
    finally:
        if driver is not None:
            driver.quit()
        for proc in (dashboard, search):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        print(f"work folder (search and dashboard logs): {work}")


def _wait_trained(api: str, search: subprocess.Popen, timeout: float) -> int:
    """Wait (while the search runs) for a trained trial, so the picture has a point on the charts; 0 if none came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and search.poll() is None:
        try:
            rows = httpx.get(api, timeout=5.0).json().get("trial_rows", [])
        except (httpx.TransportError, ValueError):
            rows = []
        done = sum(1 for t in rows if t["role"] == "search" and t["state"] == "complete")
        if done:
            return done
        time.sleep(0.25)
    return 0


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


if __name__ == "__main__":
    main()
