"""The web UI in a real headless Chromium (Playwright driving /usr/bin/chromium) against a real
`hpo serve` filled through its HTTP API: pages load with no console error, the leaderboard
shows the right trials in the right order, a completion told while the page is open appears
without a reload, the plots draw, the best config downloads as YAML, and a 10 000-trial study
loads. Screenshots go to $HPO_SCREENSHOT_DIR (or a pytest temporary folder, printed).

Without Chromium or Playwright the tests skip with the reason, unless
HPO_TEST_REQUIRE_BROWSER=1 (CI), which fails them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e import _ui_data as data
from tests.e2e._servers import running_server

pytestmark = [pytest.mark.e2e]

CHROMIUM = os.environ.get("HPO_TEST_CHROMIUM", "/usr/bin/chromium")
# Without the networking flags Chromium keeps trying to reach the closed network here.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
STUDY_CHARTS = ("history", "importance", "curves", "parallel", "timeline")

# How much of a canvas is not background: proof that a chart drew something, not just that
# an element exists.
INK_JS = """(selector) => {
  const canvases = [...document.querySelectorAll(selector + ' canvas')];
  if (canvases.length === 0) return 0;
  const c = canvases[0];
  if (c.width === 0 || c.height === 0) return 0;
  const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let ink = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    if (pixels[i + 3] > 0 && (pixels[i] < 235 || pixels[i + 1] < 235 || pixels[i + 2] < 235)) ink++;
  }
  return ink / (c.width * c.height);
}"""


EVIL_WORKER = '<img src=x onerror="window.__xss=1">'
# Opens the timeline tooltip of a trial (by number) and returns the tooltip's visible text.
SHOW_TIMELINE_TIP_JS = """(number) => {
  const chart = echarts.getInstanceByDom(document.getElementById('timeline-chart'));
  const data = chart.getOption().series[0].data;
  const index = data.findIndex((d) => d.value[3] === number);
  chart.dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: index});
  const tips = [...document.querySelectorAll('#timeline-chart div')]
    .filter((d) => d.textContent.includes('trial #' + number));
  const text = tips.length ? tips[tips.length - 1].textContent : '';
  chart.dispatchAction({type: 'hideTip'});
  return text;
}"""


def _unavailable(reason: str) -> None:
    if os.environ.get("HPO_TEST_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        _unavailable(f"playwright is not installed ({e}): pip install -e '.[dev]'")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _unavailable(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as playwright:
        # launch() gives every run a fresh temporary profile (user data dir).
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


class Console:
    """Console errors and uncaught exceptions of a page; a test ends by checking it's empty."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", self._message)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _message(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console.error: {message.text}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, httpx.Client, Path]]:
    """A fresh `hpo serve` (SQLite) per test: `claim` serves any runnable study, so studies of
    different tests must not meet. Yields (url, client, database file)."""
    with (
        running_server(tmp_path, tmp_path / "cache", lease_seconds=60) as (url, _env),
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield url, client, tmp_path / "data" / "hpo.db"


@pytest.fixture
def page(browser: Any, server: tuple[str, httpx.Client, Path]) -> Iterator[tuple[Any, Console]]:
    """A fresh browser context; it closes before the server stops (it depends on it), so its
    polling never meets a closed port."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    console = Console(tab)
    yield tab, console
    context.close()
    assert console.errors == []


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("HPO_SCREENSHOT_DIR")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


def _ink(page: Any, selector: str) -> float:
    return float(page.evaluate(INK_JS, selector))


def _fits_the_window(page: Any) -> None:
    """Nothing sticks out sideways (a long worker id, a tooltip left open)."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _leaderboard_numbers(page: Any) -> list[int]:
    cells = page.locator("#leaderboard tbody tr td:nth-child(2)").all_inner_texts()
    return [int(text.lstrip("#")) for text in cells]


def test_studies_list_shows_state_sampler_progress_and_best(
    page: tuple[Any, Console], server: tuple[str, httpx.Client, Path], screenshots: Path
) -> None:
    tab, _ = page
    url, client, _ = server
    done = data.create_study(client, data.study_spec("list-random", 8))
    data.run_workers(client, 8, ("w0",))
    waiting = data.create_study(client, data.study_spec("list-tpe", 20, sampler="tpe"))
    best = client.get(f"/api/v1/studies/{done}").json()["best"]["value"]

    tab.goto(url + "/")
    tab.wait_for_selector(f"#studies tr[data-study-id='{waiting}']")
    first = tab.locator(f"#studies tr[data-study-id='{done}'] td").all_inner_texts()
    second = tab.locator(f"#studies tr[data-study-id='{waiting}'] td").all_inner_texts()
    assert first[1:4] == ["list-random", "completed", "random"]
    assert "8 / 8" in first[5]
    assert float(first[7]) == pytest.approx(best, rel=1e-3)  # shown to 4 significant digits
    assert second[1:4] == ["list-tpe", "running", "tpe"]
    assert "0 / 20" in second[5] and second[7] == "–"
    # Newest first, like the API.
    ids = [int(i) for i in tab.locator("#studies tbody tr td:first-child").all_inner_texts()]
    assert ids == [waiting, done]
    tab.click(f"#studies tr[data-study-id='{done}'] a")
    tab.wait_for_url(f"{url}/studies/{done}")
    tab.wait_for_selector("body[data-ready='true']")
    tab.goto(url + "/")
    tab.wait_for_selector("#studies tbody tr")
    _fits_the_window(tab)
    tab.screenshot(path=str(screenshots / "studies.png"), full_page=True)


def test_study_page_is_live_plots_and_downloads_the_best_config(
    page: tuple[Any, Console], server: tuple[str, httpx.Client, Path], screenshots: Path
) -> None:
    tab, _ = page
    url, client, _ = server
    study = data.create_study(client, data.study_spec("live-mlp", 60))
    data.run_workers(client, 45, ("gpu-0", "gpu-1", "gpu-2"))

    tab.goto(f"{url}/studies/{study}")
    tab.wait_for_selector("body[data-ready='true']")
    tab.evaluate("window.__sameDocument = true")
    expected = [t["number"] for t in client.get(f"/api/v1/studies/{study}/leaderboard").json()]
    assert len(expected) == 10
    assert _leaderboard_numbers(tab) == expected

    for name in STUDY_CHARTS:
        assert _ink(tab, f"#{name}-chart") > 0.002, f"the {name} chart drew nothing"
    params = list(data.SPACE)
    slices = tab.locator("#slices [data-param]")
    assert sorted(slices.evaluate_all("els => els.map(e => e.dataset.param)")) == sorted(params)
    assert all(_ink(tab, f"#slice-{p}") > 0.002 for p in params)
    # Intermediate curves show the pruned trials apart from the completed ones.
    curve_states = tab.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('curves-chart')).getOption()"
        ".series.map(s => s.name)"
    )
    assert {"completed", "pruned"} <= set(curve_states)

    # A trial told through the API while the page is open tops the leaderboard, no reload.
    # Its worker's id is markup: it must show as text, never run.
    lease = data.claim(client, EVIL_WORKER)
    assert lease is not None
    client.post(
        f"/api/v1/trials/{lease['trial_id']}/complete",
        json={"lease_token": lease["lease_token"], "value": 0.999},
    ).raise_for_status()
    tab.wait_for_function(
        "n => document.querySelector('#leaderboard tbody tr td:nth-child(2)')?.textContent"
        " === '#' + n",
        arg=lease["number"],
        timeout=10_000,
    )
    assert tab.evaluate("window.__sameDocument") is True
    assert _leaderboard_numbers(tab)[0] == lease["number"]
    # The timeline gets the new worker's lane once the plots refresh; its tooltip shows the
    # id as text.
    tab.wait_for_function(
        "w => echarts.getInstanceByDom(document.getElementById('timeline-chart'))"
        ".getOption().yAxis[0].data.includes(w)",
        arg=EVIL_WORKER,
        timeout=15_000,
    )
    tooltip = tab.evaluate(SHOW_TIMELINE_TIP_JS, lease["number"])
    assert EVIL_WORKER in tooltip
    assert tab.evaluate("window.__xss") is None

    # The best config downloads as the YAML `hpo train --final` takes.
    with tab.expect_download() as download:
        tab.click("#download-best")
    config = yaml.safe_load(Path(download.value.path()).read_text())
    assert config == client.get(f"/api/v1/studies/{study}/best").json()["config"]
    assert config["params"]["batch_size"] == 64 and "lr" in config["params"]

    _fits_the_window(tab)
    tab.screenshot(path=str(screenshots / "study.png"), full_page=True)
    _check_trial_table(tab, client, study)


def _check_trial_table(tab: Any, client: httpx.Client, study: int) -> None:
    """Paging and the state filter go through the server's paged list."""
    total = client.get(f"/api/v1/studies/{study}/trials?limit=1").json()["total"]
    info = tab.locator("#page-info")
    assert info.inner_text() == f"1–25 of {total}"
    tab.click("#page-next")
    tab.wait_for_function("() => document.querySelector('#page-info').textContent.startsWith('26')")
    first = tab.locator("#trials tbody tr td:first-child").first.inner_text()
    assert first == "#25"
    pruned = client.get(f"/api/v1/studies/{study}/trials?state=pruned&limit=1").json()["total"]
    assert pruned > 0, "the median pruner should have stopped some of the made-up runs"
    tab.select_option("#state-filter", "pruned")
    tab.wait_for_function(
        "n => document.querySelector('#page-info').textContent.endsWith('of ' + n)", arg=pruned
    )
    states = tab.locator("#trials tbody .badge").all_inner_texts()
    assert states and set(states) == {"pruned"}
    assert len(states) == min(25, pruned)


def test_a_10000_trial_study_loads_with_capped_plots(
    page: tuple[Any, Console], server: tuple[str, httpx.Client, Path], screenshots: Path
) -> None:
    tab, _ = page
    url, client, database = server
    study = data.create_study(client, data.study_spec("ten-thousand", 10_000))
    data.insert_synthetic_trials(f"sqlite:///{database}", study, 10_000)

    tab.goto(f"{url}/studies/{study}")
    tab.wait_for_selector("body[data-ready='true']", timeout=60_000)
    assert tab.locator("#page-info").inner_text() == "1–25 of 10000"
    assert tab.locator("#trials tbody tr").count() == 25
    assert "2000 of " in tab.locator("#parallel-note").inner_text()
    assert "latest 2000 of 10000" in tab.locator("#timeline-note").inner_text()
    assert "of 10000 trials" in tab.locator("#curves-note").inner_text()
    for name in STUDY_CHARTS:
        assert _ink(tab, f"#{name}-chart") > 0.002, f"the {name} chart drew nothing"
    expected = [t["number"] for t in client.get(f"/api/v1/studies/{study}/leaderboard").json()]
    assert _leaderboard_numbers(tab) == expected
    # Interactive: the pager answers.
    tab.click("#page-next")
    tab.wait_for_function("() => document.querySelector('#page-info').textContent.startsWith('26')")
    _fits_the_window(tab)
    tab.screenshot(path=str(screenshots / "study-10000.png"), full_page=True)


def test_comparison_page_shows_ranking_and_banded_curves(
    page: tuple[Any, Console], server: tuple[str, httpx.Client, Path], screenshots: Path
) -> None:
    tab, _ = page
    url, client, _ = server
    comparison = data.create_comparison(
        client, data.comparison_spec("samplers", ["random", "tpe", "lipo"], 10, 3)
    )
    data.run_workers(client, 1000, ("gpu-0", "gpu-1"))
    view = client.get(f"/api/v1/comparisons/{comparison}").json()
    assert view["state"] == "completed"

    tab.goto(f"{url}/comparisons/{comparison}")
    tab.wait_for_selector("body[data-ready='true']")
    ranked = sorted(view["results"], key=lambda r: r["rank"])
    rows = tab.locator("#ranking tbody tr")
    assert rows.evaluate_all("els => els.map(e => e.dataset.sampler)") == [
        r["sampler"] for r in ranked
    ]
    assert tab.locator("#studies tbody tr").count() == 9
    # The ranking says whether it is a verdict or noise, as the API's view does.
    assert view["verdict"] and tab.locator("#verdict").inner_text() == f"ranking: {view['verdict']}"
    for chart in ("by-trial-chart", "by-time-chart"):
        assert _ink(tab, f"#{chart}") > 0.002
        series = tab.evaluate(
            "id => echarts.getInstanceByDom(document.getElementById(id)).getOption().series"
            ".map(s => [s.type, s.name])",
            chart,
        )
        # A band (custom polygon) and a median line per sampler.
        assert sorted(series) == sorted(
            [[kind, s] for s in ("random", "tpe", "lipo") for kind in ("custom", "line")]
        )
    _fits_the_window(tab)
    tab.screenshot(path=str(screenshots / "comparison.png"), full_page=True)

    # The list page links to it.
    tab.goto(url + "/")
    tab.click(f"#comparisons tr[data-comparison-id='{comparison}'] a")
    tab.wait_for_selector("body[data-ready='true']")


ADMIN, READ = "ui-admin-4f1c9e", "ui-read-8b2d6a"


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[tuple[str, httpx.Client]]:
    """`hpo serve` with admin and read tokens: reads need a token. Yields (url, an admin
    client)."""
    tokens = {"HPO_API_TOKEN": ADMIN, "HPO_READ_TOKEN": READ}
    with (
        running_server(tmp_path, tmp_path / "cache", lease_seconds=60, extra_env=tokens) as (
            url,
            _env,
        ),
        httpx.Client(
            base_url=url, timeout=30, headers={"Authorization": f"Bearer {ADMIN}"}
        ) as client,
    ):
        yield url, client


def test_sign_in_keeps_the_token_for_the_session_and_every_page_uses_it(
    browser: Any, guarded: tuple[str, httpx.Client], screenshots: Path
) -> None:
    """With a read token set, the pages ask for it: a wrong one shows the server's message, the
    right one shows the data, a reload keeps the session, the study page (and its download)
    use it, and signing out forgets it."""
    url, client = guarded
    study = data.create_study(client, data.study_spec("signed-in", 6))
    data.run_workers(client, 6, ("w0",))
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    try:
        tab = context.new_page()
        tab.set_default_timeout(20_000)
        console = Console(tab)
        tab.goto(url + "/")
        tab.wait_for_selector("#login", state="visible")
        assert "need a token" in tab.locator("#login-error").inner_text()
        assert not tab.locator("#studies").is_visible()  # nothing behind the form
        tab.screenshot(path=str(screenshots / "sign-in.png"))

        tab.fill("#login-token", "not-the-token")
        tab.click("#login-submit")
        tab.wait_for_function(
            "() => document.querySelector('#login-error').textContent.includes('wrong token')"
        )
        assert tab.evaluate("sessionStorage.getItem('hpo.token')") is None
        assert tab.locator("#login").is_visible()

        tab.fill("#login-token", READ)
        tab.click("#login-submit")
        tab.wait_for_selector(f"#studies tr[data-study-id='{study}']")
        assert not tab.locator("#login").is_visible()
        assert tab.evaluate("sessionStorage.getItem('hpo.token')") == READ
        tab.reload()
        tab.wait_for_selector(f"#studies tr[data-study-id='{study}']")
        assert not tab.locator("#login").is_visible()

        tab.click(f"#studies tr[data-study-id='{study}'] a")
        tab.wait_for_selector("body[data-ready='true']")
        assert len(_leaderboard_numbers(tab)) > 0
        with tab.expect_download() as download:
            tab.click("#download-best")
        config = yaml.safe_load(Path(download.value.path()).read_text())
        assert config == client.get(f"/api/v1/studies/{study}/best").json()["config"]

        tab.click("#logout")
        tab.wait_for_selector("#login", state="visible")
        assert tab.evaluate("sessionStorage.getItem('hpo.token')") is None
        # The browser logs each refused fetch (401) as a console error; nothing else may be.
        unexpected = [e for e in console.errors if "status of 401" not in e]
        assert unexpected == []
    finally:
        context.close()


def test_a_study_paused_by_config_errors_shows_why(
    page: tuple[Any, Console], server: tuple[str, httpx.Client, Path], screenshots: Path
) -> None:
    tab, _ = page
    url, client, _ = server
    spec = data.study_spec("cannot-succeed", 10)
    # Unchecked at creation (check_config: false), as a study stored before the check was.
    spec = {**spec, "task": {**spec["task"], "dataset": "mnist2d"}, "check_config": False}
    study = data.create_study(client, spec)
    message = "unknown dataset 'mnist2d'; valid: mnist1d, digits"
    for _ in range(3):
        lease = data.claim(client, "w0")
        assert lease is not None
        client.post(
            f"/api/v1/trials/{lease['trial_id']}/fail",
            json={
                "lease_token": lease["lease_token"],
                "failure_class": "config",
                "message": message,
            },
        ).raise_for_status()
    reason = client.get(f"/api/v1/studies/{study}").json()["paused_reason"]
    assert reason == f"paused: 3 trials in a row failed with: {message}"

    tab.goto(f"{url}/studies/{study}")
    tab.wait_for_selector("body[data-ready='true']")
    assert tab.locator("#title").inner_text().endswith("paused")
    assert tab.locator("#paused-reason").inner_text() == reason
    assert tab.locator("#top-failure").inner_text() == f"most common failure: 3 × config: {message}"
    tab.screenshot(path=str(screenshots / "study-paused.png"), full_page=True)


def test_the_study_page_shows_the_budget_used_and_a_trials_note_and_tags(
    page: tuple[Any, Console], server: tuple[str, httpx.Client, Path], screenshots: Path
) -> None:
    tab, _ = page
    url, client, _ = server
    spec = data.study_spec("budgeted", 3)
    spec["budget"] = {**spec.get("budget", {}), "max_seconds": 7200, "target": 0.999}
    study = data.create_study(client, spec)
    lease = data.claim(client, "w0")
    assert lease is not None
    data.run_trial(client, lease)
    client.patch(
        f"/api/v1/trials/{lease['trial_id']}",
        json={"note": "lr too high <b>really</b>", "tags": ["baseline", "gpu-a"]},
    ).raise_for_status()
    tab.goto(f"{url}/studies/{study}")
    tab.wait_for_selector("body[data-ready='true']")
    budget = tab.locator("#budget-use").inner_text()
    assert budget.startswith("budget: 1 of 3 trials used, 2 left; ")
    assert "of 2 h 0 m training used" in budget and "target 0.999" in budget
    row = tab.locator("#trials tbody tr").first
    assert row.locator("td.tags").inner_text() == "baseline, gpu-a"
    assert row.locator("td.trial-note").inner_text() == "lr too high <b>really</b>"  # as text
    tab.screenshot(path=str(screenshots / "study-budget.png"), full_page=True)


def test_opening_a_trial_row_shows_its_log_live(
    page: tuple[Any, Console], server: tuple[str, httpx.Client, Path]
) -> None:
    """A row of the trials table opens the trial's log (as text: markup in it never runs),
    which grows while the trial runs, and closes again."""
    tab, _ = page
    url, client, _ = server
    study = data.create_study(client, data.study_spec("logs", 3))
    lease = data.claim(client, "gpu-0")
    assert lease is not None
    trial, token = lease["trial_id"], lease["lease_token"]

    def log(text: str) -> None:
        client.post(
            f"/api/v1/trials/{trial}/logs", json={"lease_token": token, "text": text}
        ).raise_for_status()

    log("epoch 1: val_accuracy=0.5\n<img src=x onerror=window.__xss=1>\n")
    tab.goto(f"{url}/studies/{study}")
    tab.wait_for_selector("body[data-ready='true']")
    tab.click(f"#trials tr[data-trial-id='{trial}']")
    pre = tab.locator(f"#trials tr.log-row[data-log-for='{trial}'] pre")
    pre.wait_for()
    tab.wait_for_function(
        "t => document.querySelector('#trials tr.log-row pre').textContent.startsWith(t)",
        arg="epoch 1: val_accuracy=0.5\n<img",
    )
    log("epoch 2: val_accuracy=0.75\n")  # nothing else changes: the open log still follows
    tab.wait_for_function(
        "() => document.querySelector('#trials tr.log-row pre').textContent"
        ".includes('epoch 2: val_accuracy=0.75')",
        timeout=10_000,
    )
    assert pre.inner_text().splitlines()[-1] == "epoch 2: val_accuracy=0.75"
    assert tab.evaluate("window.__xss") is None
    tab.click(f"#trials tr[data-trial-id='{trial}']")
    tab.wait_for_selector("#trials tr.log-row", state="detached")


def test_a_study_whose_pool_has_no_live_worker_says_so_on_its_page(
    page: tuple[Any, Console], server: tuple[str, httpx.Client, Path]
) -> None:
    tab, _ = page
    url, client, _ = server
    spec = {**data.study_spec("on-a100", 4), "resources": {"pool": "a100", "gpus_per_trial": 1}}
    study = data.create_study(client, spec)
    tab.goto(f"{url}/studies/{study}")
    tab.wait_for_selector("body[data-ready='true']")
    expected = "waiting: no live worker in pool a100 (start one: hpo worker --pool a100)"
    assert tab.locator("#waiting-for").inner_text() == expected
    assert "pool a100" in tab.locator("#subtitle").inner_text()
