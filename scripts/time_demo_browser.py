"""Time a demo query from the click, in a real browser: `python app.py --run RUN` in a subprocess, Debian's Chromium
driven by Playwright, one product picked from the dropdown, the submit button clicked; then the time until the page
shows the 5 recommendations with their grounded templates, and until the LM's sentences have replaced them (the
"LM's sentences follow" note is gone). One warm-up query, then `--repeats` timed clicks per query.

    .venv/bin/python scripts/time_demo_browser.py --run runs/demo200 --out runs/bench/demo_browser

Prints a table and writes demo_browser.json (every click's times, the shown explanations and their sources, the
load average) to --out. Needs /usr/bin/chromium (or $ECCR_CHROMIUM) and playwright (the dev extra).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from eccr.serve.app_process import running_app
from eccr.serve.ui import SOURCE_LABELS

CHROMIUM = Path(os.environ.get("ECCR_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
QUERIES = ("Canon EOS Rebel T7", "Apple iPhone 13")
# the page is checked every 25 ms, not on every animation frame: a frame-rate poll keeps a core of this 2-core machine
# busy, which a shopper's browser does not, and would slow the LM it is timing
POLL_MS = 25


def pick(page, query: str) -> str:
    """Filter the product dropdown by typing the query and pick the first option that contains it."""
    box = page.locator("#eccr-item input")
    box.click()
    box.fill("")
    box.press_sequentially(query, delay=20)
    option = page.locator("#eccr-item").get_by_role("option").filter(has_text=query).first
    option.wait_for(timeout=10_000)
    title = option.inner_text().strip()
    option.click()
    page.keyboard.press("Escape")
    return title


def click_and_time(page, timeout_ms: int) -> dict:
    """Submit; seconds until the cards are shown with their templates (the page's "LM's sentences follow" note
    appears with them) and until the LM's sentences have replaced them (the note is gone)."""
    start = time.perf_counter()
    page.locator("#eccr-submit").click()
    page.wait_for_function("() => !!document.querySelector('#eccr-results .eccr-message.pending')",
                           timeout=timeout_ms, polling=POLL_MS)
    first = time.perf_counter() - start
    page.wait_for_function("() => { const r = document.querySelector('#eccr-results');"
                           " return r.querySelectorAll('.eccr-card').length > 0 && !r.querySelector('.eccr-message.pending'); }",
                           timeout=timeout_ms, polling=POLL_MS)
    done = time.perf_counter() - start
    cards = page.locator("#eccr-results section.eccr-system").first.locator(".eccr-card").all()
    shown = []
    for card in cards:
        text = " ".join(card.locator(".eccr-explanation").all_inner_texts()).strip()
        source = next((k for k, label in SOURCE_LABELS.items() if text.startswith(label)), "?")
        shown.append({"title": card.locator(".eccr-title").inner_text(), "source": source,
                      "explanation": text.removeprefix(SOURCE_LABELS.get(source, "")).strip()})
    return {"first_s": first, "done_s": done, "shown": shown, "load_average": os.getloadavg()[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--queries", nargs="+", default=list(QUERIES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one answer")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/demo_browser"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise SystemExit(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set ECCR_CHROMIUM)")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    started = time.perf_counter()
    with running_app(args.run, args.out / "app.log", 600, offline=False) as url:
        serve_s = time.perf_counter() - started
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector("#eccr-item input", timeout=60_000)
            for query in args.queries:
                title = pick(page, query)
                click_and_time(page, int(args.timeout * 1000))  # warm-up
                clicks = [click_and_time(page, int(args.timeout * 1000)) for _ in range(args.repeats)]
                rows.append({"query": query, "title": title, "clicks": clicks,
                             "first_s_median": statistics.median(c["first_s"] for c in clicks),
                             "done_s_median": statistics.median(c["done_s"] for c in clicks)})
            browser.close()
    print(f"run {args.run}; app served after {serve_s:.1f} s; median of {args.repeats} clicks after a warm-up")
    print(f"{'query':>22} {'cards shown s':>14} {'LM sentences in s':>18} {'(min-max)':>12} {'LM-written':>10} {'load':>5}")
    for r in rows:
        done = [c["done_s"] for c in r["clicks"]]
        lm = sum(s["source"] == "lm" for s in r["clicks"][-1]["shown"])
        print(f"{r['query'][:22]:>22} {r['first_s_median']:>14.2f} {r['done_s_median']:>18.2f} "
              f"{min(done):>5.2f}-{max(done):<6.2f} {lm:>6} of {len(r['clicks'][-1]['shown'])} "
              f"{r['clicks'][-1]['load_average']:>5.2f}")
    (args.out / "demo_browser.json").write_text(json.dumps({"run": str(args.run), "serve_s": serve_s,
                                                            "repeats": args.repeats, "rows": rows}, indent=1))
    print(f"wrote {args.out / 'demo_browser.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
