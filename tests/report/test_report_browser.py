"""The HTML report in a real browser: Debian's headless Chromium driven by selenium.

Opens a report generated from the sample fleet, checks that the page logs no error (a CSP violation
or a script error is logged as SEVERE), that nothing a host sent runs as script, that clicking a header
sorts the table, that the filter box filters, and saves a screenshot to tests/output/report.png.
"""

import os
import shutil
import tempfile

import pytest

from ansible_collections.reaper.systemd.plugins.filter import report as rp

from conftest import OUTPUT, assert_valid_report
from sample_fleet import sample_results

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


@pytest.fixture(scope="module")
def report_file():
    out = os.path.join(OUTPUT, "report-sample")
    os.makedirs(out, exist_ok=True)
    report = rp.reaper_report(sample_results(), generated_at="2026-11-26T12:00:00Z", label="sample")
    assert_valid_report(report)
    path = os.path.join(out, "report.html")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(rp.reaper_report_html(report))
    return path


@pytest.fixture(scope="module")
def browser():
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            pytest.fail("%s is missing: `make report-test` installs it (apt-get install %s)" % (path, package))
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is missing: `make venv` installs requirements-test.txt")
    # never let selenium look for (or download) a browser or a driver of its own
    os.environ["SE_OFFLINE"] = "true"
    profile = tempfile.mkdtemp(prefix="reaper-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument("--user-data-dir=%s" % profile)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _column(driver, table_id, idx, attr=None):
    rows = driver.find_elements("css selector", "#%s tbody tr" % table_id)
    cells = [row.find_elements("css selector", "td")[idx] for row in rows]
    if attr:
        return [cell.get_attribute(attr) for cell in cells]
    return [cell.text.strip() for cell in cells]


def _click_header(driver, table_id, label):
    for th in driver.find_elements("css selector", "#%s thead th" % table_id):
        if th.text.strip().rstrip(" \u25b2\u25bc") == label:
            th.find_element("css selector", "button").click()
            return th.get_attribute("aria-sort")
    raise AssertionError("no header %r in #%s" % (label, table_id))


def test_report_in_chromium(browser, report_file):
    browser.get("file://" + report_file)
    assert browser.title.startswith("reaper.systemd audit (sample)")

    # no console errors: script errors and CSP violations are SEVERE
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == [], severe
    # strings from hosts stay text
    assert browser.execute_script("return typeof window.__xss") == "undefined"
    assert browser.find_elements("css selector", "img") == []
    body = browser.find_element("tag name", "body").text
    assert "<script>window.__xss=1</script>" in body
    for host in sample_results():
        assert host in body, host

    # both charts render with bars
    assert len(browser.find_elements("css selector", "#chart-hosts rect.bar")) > 4
    assert len(browser.find_elements("css selector", "#chart-units rect.bar")) > 4

    # the findings table sorts by host, then by severity (rank in data-sort)
    assert _click_header(browser, "findings", "host") == "ascending"
    hosts = _column(browser, "findings", 1)
    assert hosts == sorted(hosts, key=lambda s: s.lower()) and hosts[0] != hosts[-1]
    assert _click_header(browser, "findings", "host") == "descending"
    assert _column(browser, "findings", 1) == sorted(hosts, key=lambda s: s.lower(), reverse=True)
    assert _click_header(browser, "findings", "severity") == "ascending"
    ranks = [int(v) for v in _column(browser, "findings", 0, "data-sort")]
    assert ranks == sorted(ranks) and ranks[0] == 1 and ranks[-1] == 3
    assert _click_header(browser, "findings", "severity") == "descending"
    assert _column(browser, "findings", 0)[0] == "CRITICAL"

    # numeric columns sort as numbers (3, 6, 9, 12, 15, 18 zombies: lexical order would differ)
    assert _click_header(browser, "hosts-table", "zombies") == "ascending"
    zombies = [int(v) for v in _column(browser, "hosts-table", 4)]
    assert zombies == sorted(zombies) and 12 in zombies and 9 in zombies
    assert _click_header(browser, "hosts-table", "zombies") == "descending"
    assert [int(v) for v in _column(browser, "hosts-table", 4)][:3] == [18, 15, 12]

    # the filter box hides rows that do not match
    box = browser.find_element("css selector", "input[data-filter=findings]")
    box.send_keys("legacy-batch")
    visible = [r for r in browser.find_elements("css selector", "#findings tbody tr") if r.is_displayed()]
    assert len(visible) == 5 and all("legacy-batch" in r.text for r in visible)
    box.clear()
    browser.execute_script("arguments[0].dispatchEvent(new Event('input'))", box)
    assert all(r.is_displayed() for r in browser.find_elements("css selector", "#findings tbody tr"))

    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []

    # full-page screenshot as the test artifact
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, min(int(height) + 40, 12000))
    browser.execute_script("window.scrollTo(0, 0)")
    shot = os.path.join(OUTPUT, "report.png")
    assert browser.save_screenshot(shot)
    assert os.path.getsize(shot) > 20000
