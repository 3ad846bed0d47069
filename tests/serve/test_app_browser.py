"""End-to-end: the demo page in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright).

Two servers are exercised: `python app.py --run <tiny_run>` in a subprocess (the real trained pipeline), and
build_demo() on the in-test FakeRecommender launched in-process (runs even before a trained run exists).
Both skip with a printed reason when Chromium or Playwright is missing (`.ci/install_browser.sh` installs it).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from eccr.serve.app_process import free_port, running_app

CHROMIUM = Path(os.environ.get("ECCR_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
SCREENSHOT_DIR = Path(os.environ.get("ECCR_SCREENSHOT_DIR", "/tmp"))
APP_START_SECONDS = 180  # loading a run (torch, models) on a busy 2-core machine
RESULT_SECONDS = 120     # one recommend call, LM explanations included

pytestmark = pytest.mark.slow


def _load_fake():
    spec = importlib.util.spec_from_file_location("eccr_fake_recommender", Path(__file__).with_name("fake_recommender.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def trained_run(request):
    """The session-scoped `tiny_run` from tests/conftest.py (a tiny trained run directory); skips until it exists."""
    try:
        return request.getfixturevalue("tiny_run")
    except pytest.FixtureLookupError:
        pytest.skip("no tiny_run fixture yet")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}; run .ci/install_browser.sh (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        except Exception as exc:  # noqa: BLE001 - a broken install is a reason to skip, said out loud
            pytest.skip(f"Chromium at {CHROMIUM} would not start: {exc}")
        yield chromium
        chromium.close()


def read_results(page, timeout_ms: int) -> dict[str, list[dict]]:
    """Wait for the results (or an error message) and return {system: [{id, title, explanation}, ...]}."""
    page.wait_for_selector("#eccr-results .eccr-card, #eccr-results .eccr-message.error", timeout=timeout_ms)
    error = page.locator("#eccr-results .eccr-message.error")
    if error.count():
        pytest.fail(f"the page shows an error: {error.first.inner_text()}")
    lists = {}
    for section in page.locator("#eccr-results section.eccr-system").all():
        cards = section.locator(".eccr-card").all()
        lists[section.get_attribute("data-system")] = [
            {"id": card.get_attribute("data-item-id"), "title": card.locator(".eccr-title").inner_text(),
             "explanation": " ".join(card.locator(".eccr-explanation").all_inner_texts()).strip(),
             "badges": card.locator(".eccr-badge").count()} for card in cards]
    return lists


def submit_and_read(page, expect_systems: int, timeout_ms: int) -> dict[str, list[dict]]:
    before = page.locator("#eccr-results").inner_html()
    page.locator("#eccr-submit").click()
    page.wait_for_function(
        "([before, n]) => { const r = document.querySelector('#eccr-results');"
        " return r.innerHTML !== before && !r.querySelector('.eccr-message.pending')"
        " && (r.querySelectorAll('section.eccr-system').length === n"
        " || r.querySelector('.eccr-message.error')); }", arg=[before, expect_systems], timeout=timeout_ms)
    return read_results(page, timeout_ms)


def pick_product(page, search_text: str) -> str:
    """Search (large catalogues) or filter (small ones) by typing, pick the first match; return its title."""
    box = page.locator("#eccr-item input")
    search = page.locator("#eccr-search textarea, #eccr-search input")
    if search.count():  # large catalogue: the search box fills the dropdown
        search.first.press_sequentially(search_text, delay=30)
        page.wait_for_timeout(300)
    box.click()
    options = page.locator("#eccr-item").get_by_role("option")  # scoped: another list may still be closing
    options.first.wait_for(timeout=10_000)
    title = options.first.inner_text().strip()
    box.fill("")
    box.press_sequentially(title[: max(4, len(title) // 2)], delay=30)  # filter as you type
    option = page.locator("#eccr-item").get_by_role("option", name=title, exact=True).first
    option.wait_for(timeout=10_000)
    option.click()
    assert box.input_value() == title
    return title


def pick_basket_item(page, not_title: str) -> str:
    """Add one item other than the query to the basket (multiselect); return its title."""
    box = page.locator("#eccr-basket input")
    box.click()
    options = page.locator("#eccr-basket").get_by_role("option")
    options.first.wait_for(timeout=10_000)
    titles = [t.strip() for t in options.all_inner_texts()]
    title = next(t for t in titles if t != not_title)
    page.locator("#eccr-basket").get_by_role("option", name=title, exact=True).first.click()
    page.keyboard.press("Escape")
    assert title in page.locator("#eccr-basket").inner_text()
    return title


def run_scenario(browser, url: str, shot_name: str, search_text: str = "ca") -> dict:
    """Search, pick a product and a basket item, submit; then tick a baseline and submit again."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("#eccr-item input", timeout=60_000)
        page.wait_for_selector("#eccr-systems label", timeout=30_000)  # drawn after the item box on a busy machine
        systems = [label.inner_text().strip() for label in page.locator("#eccr-systems label").all()]
        assert len(systems) >= 2, f"no baseline offered for comparison: {systems}"
        title = pick_product(page, search_text)
        basket_title = pick_basket_item(page, title)
        ours = submit_and_read(page, 1, RESULT_SECONDS * 1000)
        primary = systems[0]
        assert list(ours) == [primary]
        assert ours[primary], "no recommendations shown"
        assert all(row["explanation"] for row in ours[primary]), f"missing explanations: {ours[primary]}"
        assert all(row["title"] and row["id"] and row["badges"] for row in ours[primary])
        shown = [row["title"].split(". ", 1)[-1] for row in ours[primary]]
        assert title not in shown and basket_title not in shown, "query or basket item recommended back"
        baseline = systems[-1]
        page.locator("#eccr-systems").get_by_label(baseline, exact=True).check()
        both = submit_and_read(page, 2, RESULT_SECONDS * 1000)
        page.screenshot(path=str(SCREENSHOT_DIR / shot_name), full_page=True)
        assert list(both) == [primary, baseline]
        assert [r["id"] for r in both[primary]] == [r["id"] for r in ours[primary]], "ours changed on resubmit"
        assert [r["id"] for r in both[baseline]] != [r["id"] for r in both[primary]], "baseline gave the same list"
        return {"title": title, "basket": basket_title, "ours": ours, "both": both}
    finally:
        page.close()


def launch_fake(config=None, lm: bool = False):
    from eccr.serve.ui import build_demo

    recommender = _load_fake().FakeRecommender(lm=lm)
    port = free_port()
    demo = build_demo(recommender, config)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    return demo, recommender, f"http://127.0.0.1:{port}/"


def test_demo_in_browser_with_fake_recommender(browser):
    demo, recommender, url = launch_fake()
    try:
        result = run_scenario(browser, url, "eccr_demo_fake.png")
    finally:
        demo.close()
    ids = {title: item_id for item_id, title in recommender.search_items("")}
    assert result["basket"] == "Nikon D3500 DSLR"
    query, basket = ids[result["title"]], ids[result["basket"]]
    assert (query, basket) == ("C1", "C2")  # first listed item, then the first other one
    expected = [i for i in ["A1", "A2", "A3", "A5", "P1", "A4", "C2"] if i not in (query, basket)][:5]
    assert [r["id"] for r in result["ours"]["eccr"]] == expected
    assert [r["id"] for r in result["both"]["co-occurrence"]] == [
        i for i in ["P1", "A2", "C2", "A5", "A3", "A1", "A4"] if i not in (query, basket)][:5]
    assert any("<Large> & Strap" in r["title"] for r in result["ours"]["eccr"])  # escaped, so shown literally
    assert [(c["system"], c["item"], c["basket"]) for c in recommender.calls] == [
        ("eccr", query, [basket]), ("eccr", query, [basket]), ("co-occurrence", query, [basket])]


def test_large_catalogue_search_box_in_browser(browser):
    from eccr.serve.ui import UIConfig

    # force the search-box mode; with an LM the page streams: templates first, then the LM's sentences
    demo, recommender, url = launch_fake(UIConfig(list_all_up_to=0), lm=True)
    try:
        result = run_scenario(browser, url, "eccr_demo_fake_search.png", search_text="battery")
    finally:
        demo.close()
    assert (result["title"], result["basket"]) == ("LP-E10 Battery for Canon EOS Rebel T7",
                                                   "EN-EL14a Battery for Nikon D3500")
    assert recommender.calls[0]["item"] == "A1" and recommender.calls[0]["basket"] == ["A4"]
    assert recommender.calls[0]["explain"] == "template" and recommender.calls[1] == {"explain_with_lm": 1}
    assert all("The LM says" in r["explanation"] for r in result["both"]["eccr"])  # the final step is shown


def test_app_in_browser_on_tiny_run(browser, trained_run, tmp_path):
    log_path = tmp_path / "app.log"
    try:
        with running_app(trained_run, log_path, APP_START_SECONDS) as url:
            run_scenario(browser, url, "eccr_demo_tiny_run.png")
    except RuntimeError as exc:  # the app did not come up: the message carries its log's tail
        pytest.fail(str(exc))
