"""How fast the study page loads with 10 000 trials, measured by the browser itself.

Starts `hpo serve` on a fresh SQLite database, writes a 10 000-trial study (10 reports each,
fewer when pruned) and a 100-trial baseline study into it, then opens each study page in
headless Chromium (Playwright driving /usr/bin/chromium) `--reps` times, each in a fresh
browser context (cold HTTP cache, like a first visit), and reads the Performance API:

- dom_interactive / dom_content_loaded: navigation timing of the HTML page;
- ready: the page's own `hpo-ready` mark, set once the header, leaderboard, trial table and
  every plot (history, importance, curves, parallel coordinates, slices, timeline) are drawn;
- next_page: from clicking "Next" in the trial table until the new page is shown.

It also times the three analytics endpoints over HTTP (first call: nothing cached).

    .venv/bin/python bench/ui_load.py [--trials 10000] [--reps 5]

Prints a Markdown table; bench/RESULTS.md ("Web UI") holds a run's figures.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e import _ui_data as data  # noqa: E402
from tests.e2e._servers import running_server  # noqa: E402
from tests.e2e.test_ui import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402

TIMINGS_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const ready = performance.getEntriesByName('hpo-ready')[0];
  return {dom_interactive: nav.domInteractive, dom_content_loaded: nav.domContentLoadedEventEnd,
          ready: ready ? ready.startTime : null};
}"""

NEXT_PAGE_JS = """() => new Promise((resolve) => {
  const info = document.querySelector('#page-info');
  const before = info.textContent;
  const started = performance.now();
  const observer = new MutationObserver(() => {
    if (info.textContent === before) return;
    observer.disconnect();
    resolve(performance.now() - started);
  });
  observer.observe(info, {childList: true, characterData: true, subtree: true});
  document.querySelector('#page-next').click();
})"""


def measure_page(browser: Any, url: str, reps: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {
        "dom_interactive": [],
        "dom_content_loaded": [],
        "ready": [],
        "next_page": [],
    }
    for _ in range(reps):
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready='true']", timeout=120_000)
        timings = page.evaluate(TIMINGS_JS)
        for key in ("dom_interactive", "dom_content_loaded", "ready"):
            out[key].append(float(timings[key]))
        out["next_page"].append(float(page.evaluate(NEXT_PAGE_JS)))
        context.close()
    return out


def time_endpoints(client: httpx.Client, study: int) -> dict[str, tuple[float, int]]:
    out = {}
    for name in ("plots", "curves", "importance"):
        started = time.perf_counter()
        response = client.get(f"/api/v1/studies/{study}/{name}")
        response.raise_for_status()
        out[name] = ((time.perf_counter() - started) * 1000, len(response.content))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--baseline-trials", type=int, default=100)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory() as tmp,
        running_server(Path(tmp), Path(tmp) / "cache", lease_seconds=60) as (url, _env),
    ):
        database = f"sqlite:///{Path(tmp) / 'data' / 'hpo.db'}"
        client = httpx.Client(base_url=url, timeout=120)
        studies = {}
        for label, n in (("baseline", args.baseline_trials), ("large", args.trials)):
            study = data.create_study(client, data.study_spec(f"ui-load-{n}", n))
            data.insert_synthetic_trials(database, study, n)
            studies[label] = (study, n)
        endpoints = {label: time_endpoints(client, s) for label, (s, _) in studies.items()}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            pages = {
                label: measure_page(browser, f"{url}/studies/{s}", args.reps)
                for label, (s, _) in studies.items()
            }
            version = browser.version
            browser.close()

    print(f"chromium {version}; {platform.machine()}; {args.reps} cold loads per study\n")
    base_n, large_n = studies["baseline"][1], studies["large"][1]
    print(f"| median ms (min-max) | {base_n} trials | {large_n} trials | ratio |")
    print("|---|---:|---:|---:|")
    for key in ("dom_interactive", "dom_content_loaded", "ready", "next_page"):
        b, big = pages["baseline"][key], pages["large"][key]
        print(
            f"| {key} | {statistics.median(b):.0f} ({min(b):.0f}-{max(b):.0f}) "
            f"| {statistics.median(big):.0f} ({min(big):.0f}-{max(big):.0f}) "
            f"| {statistics.median(big) / statistics.median(b):.2f} |"
        )
    print("\n| endpoint (first call) | baseline ms | baseline bytes | large ms | large bytes |")
    print("|---|---:|---:|---:|---:|")
    for name in ("plots", "curves", "importance"):
        (bm, bb), (lm, lb) = endpoints["baseline"][name], endpoints["large"][name]
        print(f"| {name} | {bm:.0f} | {bb} | {lm:.0f} | {lb} |")


if __name__ == "__main__":
    main()
