"""The report in a real browser: headless Chromium (Debian's chromium + chromium-driver) loads it
offline, every figure decodes, the console stays clean, and a screenshot is kept for CI."""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SCREENSHOT_DIR = Path(os.environ.get("VAE_BENCH_ARTIFACTS", "reports/ci"))


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.skip("Chromium or ChromeDriver not found: install Debian's chromium and chromium-driver (.ci/run does)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install -e '.[dev]'")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    yield driver
    driver.quit()


def check_in_browser(browser, page, min_images: int, sections: set[str], screenshot: str) -> None:
    """Open a report: at least `min_images` figures, each decoded; the named sections; no console
    error; a full-page screenshot kept for CI."""
    browser.get(page.as_uri())
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt.slice(0, 40)])")
    assert len(images) >= min_images, [alt for _, _, alt in images]
    broken = [alt for complete, width, alt in images if not complete or width == 0]
    assert not broken, broken
    found = browser.execute_script("return Array.from(document.querySelectorAll('h2')).map(h => h.id)")
    assert sections <= set(found)
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1280, min(height, 16000))
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOT_DIR / screenshot
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    print(f"screenshot: {shot.resolve()}")


def test_report_renders_in_chromium_with_every_figure_and_no_console_error(browser, tiny_suite_run, survived):
    sections = {"summary", "model", "loss", "beta", "latent", "limitations", "throughput"}
    browser.set_window_size(1280, 1000)
    check_in_browser(browser, tiny_suite_run[0] / "p" / "ablations.html", 15, sections, "ablations-report.png")
    survived("fault")


def test_the_summary_fits_a_1280_pixel_window_and_a_quick_report_says_what_it_is(browser, tiny_suite_run):
    browser.set_window_size(1280, 1000)
    browser.get((tiny_suite_run[0] / "p" / "ablations.html").as_uri())
    table, box = browser.execute_script(
        "const t = document.querySelector('#summary ~ .scroll table');"
        "return [t.scrollWidth, t.parentElement.clientWidth]")
    assert table <= box, f"the summary table is {table} px wide in a {box} px column: columns hidden"
    banner = browser.execute_script("const b = document.querySelector('.quick-banner');"
                                    "return b && b.getBoundingClientRect().height > 0 ? b.innerText : ''")
    assert "a smoke test, not evidence" in banner


def test_claims_report_renders_in_chromium_with_every_figure(browser, tiny_claims_run):
    check_in_browser(browser, tiny_claims_run / "p" / "claims.html", 13,
                     {"ledger", *(f"C{i}" for i in range(1, 14)), "evaluator", "metrics"}, "claims-report.png")
