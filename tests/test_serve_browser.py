"""`avgzsl serve` on the bundle of a tiny trained run: in a real headless browser (Debian's Chromium driven by
Selenium through Debian's ChromeDriver, never Selenium Manager, which would download a browser), and through
Flask's test client with the real model.

The page's top label for a demo clip must be `avgzsl predict`'s for the same clip, names and modality. The
browser missing skips its test with the reason, unless AVGZSL_REQUIRE_BROWSER=1 (CI), which fails it. A
screenshot of the answered page is left in the tests' base folder (serve_page.png) for a person to look at.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from test_bundle_workflow import _tst_clips

from avgzsl.cli import main
from avgzsl.inference.arguments import add_commands

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
REQUIRE_ENV = "AVGZSL_REQUIRE_BROWSER"
STARTUP_S, SCORING_S = 180, 600
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")  # (session: set up before the session's tiny_bundle, when asked first)
def browser_installed():
    """Checked before the tiny run is trained: without a browser the page's test has nothing to do."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (the test extra)")
    if missing:
        reason = f"no headless browser: {', '.join(missing)} missing (apt-get install chromium chromium-driver)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tiny_bundle, tmp_path):
    """`avgzsl serve` on the tiny bundle, as a process of its own, with its own temporary folder."""
    port, uploads = _free_port(), tmp_path / "server_tmp"
    uploads.mkdir()
    bundle = tiny_bundle / "results" / "demo" / "bundles" / "avgzslnet"
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "avgzsl.cli", "serve", str(bundle), "--port", str(port),
                             "--threads", "2"], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "TMPDIR": str(uploads)})
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for_page(url, proc, tmp_path / "serve.log")
        yield url, uploads
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _wait_for_page(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"avgzsl serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
    raise AssertionError(f"avgzsl serve did not answer within {STARTUP_S} s:\n{log.read_text()[-3000:]}")


def _chrome(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1100,1400", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


def _predict_top_label(bundle: Path, clip: str, names: str, modality: str, out: Path) -> str:
    assert main(["predict", str(bundle), clip, "--classes", names, "--modality", modality,
                 "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    return next(r["class"] for r in rows if r["rank"] == 1)


def test_the_page_gives_predicts_top_label_for_a_demo_clip(browser_installed, tiny_bundle,
                                                           server, tmp_path, tmp_path_factory):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    results = tiny_bundle / "results" / "demo"
    clip = _tst_clips(results)["media"].iloc[0]
    names = [*pd.read_csv(results / "classes.tsv", sep="\t")["name"], "church bell"]  # one the run never saw
    modality = "audio"
    url, uploads = server
    driver = _chrome(tmp_path / "chrome_profile")
    try:
        driver.get(url)
        driver.find_element(By.ID, "clips").send_keys(clip)
        assert Path(clip).name in driver.find_element(By.ID, "chosen").text  # the page's script lists it
        classes = driver.find_element(By.ID, "classes")
        classes.clear()
        classes.send_keys(", ".join(names))
        Select(driver.find_element(By.ID, "modality")).select_by_value(modality)
        driver.find_element(By.ID, "submit").click()
        WebDriverWait(driver, SCORING_S).until(seen.any_of(
            seen.presence_of_element_located((By.CSS_SELECTOR, "#results tr.rank-1 td.label")),
            seen.presence_of_element_located((By.ID, "error"))))
        driver.save_screenshot(str(tmp_path_factory.getbasetemp() / "serve_page.png"))
        errors = driver.find_elements(By.ID, "error")
        assert not errors, errors[0].text
        shown_clip = driver.find_element(By.CSS_SELECTOR, "#results h3.clip").text
        top = driver.find_element(By.CSS_SELECTOR, "#results tr.rank-1 td.label").text
    finally:
        driver.quit()
    assert shown_clip == Path(clip).name
    bundle = results / "bundles" / "avgzslnet"
    assert top == _predict_top_label(bundle, clip, ",".join(names), modality, tmp_path / "labels.json")
    assert not list(uploads.glob("avgzsl-serve-*"))  # the upload is gone once scored


def test_the_real_model_through_the_app_gives_predicts_rows_and_a_note_for_a_bad_file(tiny_bundle,
                                                                                      tmp_path):
    serve = pytest.importorskip("avgzsl.inference.serve", reason="Flask (the serve extra) is not installed")
    results = tiny_bundle / "results" / "demo"
    bundle = results / "bundles" / "avgzslnet"
    clip = _tst_clips(results)["media"].iloc[1]
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    args = parser.parse_args(["serve", str(bundle), "--threads", "2"])
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    client = serve.create_app(serve.load_predictor(args), max_upload_mb=50, upload_root=str(uploads)).test_client()
    data = {"classes": "dog\ncat, church bell", "modality": "both", "top_k": "",
            "clips": [(io.BytesIO(Path(clip).read_bytes()), "demo.mp4"), (io.BytesIO(b"<html>an error page</html>"), "page.mp4")]}
    answer = client.post("/", data=data, content_type="multipart/form-data")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200, html
    assert "page.mp4" in html and "not a media file" in html and list(uploads.iterdir()) == []
    out = tmp_path / "labels.json"
    assert main(["predict", str(bundle), clip, "--classes", "dog,cat,church bell", "--out", str(out)]) == 0
    expected = [(r["class"], f"{r['score']:.4f}") for r in json.loads(out.read_text())]
    shown = re.findall(r'<td class="label">([^<]*)</td>\s*<td class="score">([^<]*)</td>', html)
    assert shown == expected  # the demo clip's three ranks, then nothing for the page that is not media
