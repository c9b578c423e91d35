"""The Pareto plot of a two-objective study with a constraint, in a real headless Chromium
against a real `hpo serve`: it draws, the front is the API's /pareto, infeasible trials are
marked, clicking a front point opens that trial, and the hypervolume over trials draws.
Fixtures and the browser set-up are tests/e2e/test_ui.py's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e import _ui_data as data
from tests.e2e.test_ui import (  # noqa: F401  (pytest fixtures, used by name)
    Console,
    _ink,
    browser,
    page,
    screenshots,
    server,
)

pytestmark = [pytest.mark.e2e]

# Where a point of a series is on the page: (x, y) in CSS pixels of the viewport.
POINT_JS = """([series, index]) => {
  const node = document.getElementById('pareto-chart');
  const chart = echarts.getInstanceByDom(node);
  const datum = chart.getOption().series[series].data[index];
  const [x, y] = chart.convertToPixel({ seriesIndex: series }, datum.value);
  const box = node.getBoundingClientRect();
  return { x: box.left + x, y: box.top + y, number: datum.number };
}"""


def _fill(client: httpx.Client, study: int, n: int) -> list[dict[str, Any]]:
    """Claim and complete n trials: accuracy from the params, n_params from width and
    depth, every fourth trial too slow (latency_ms 5 > the 2.0 budget)."""
    done = []
    for i in range(n):
        lease = data.claim(client, "gpu-0")
        assert lease is not None
        p = lease["params"]
        metrics = {
            "n_params": float(int(p["width"]) ** 2 * int(p["depth"])),
            "latency_ms": 5.0 if i % 4 == 0 else 1.0,
        }
        value = data.accuracy(p)
        client.post(
            f"/api/v1/trials/{lease['trial_id']}/complete",
            json={"lease_token": lease["lease_token"], "value": value, "metrics": metrics},
        ).raise_for_status()
        done.append(lease)
    return done


def test_pareto_plot_draws_marks_infeasible_and_opens_a_trial_on_click(
    page: tuple[Any, Console],  # noqa: F811  (the fixtures imported above)
    server: tuple[str, httpx.Client, Path],  # noqa: F811
    screenshots: Path,  # noqa: F811
) -> None:
    tab, _ = page
    url, client, _ = server
    spec = data.study_spec("pareto-mlp", 24) | {
        "pruner": "none",
        "objectives": [
            {"metric": "val_accuracy", "direction": "maximize"},
            {"metric": "n_params", "direction": "minimize"},
        ],
        "constraints": [{"metric": "latency_ms", "max": 2.0}],
    }
    study = data.create_study(client, spec)
    _fill(client, study, 24)

    tab.goto(f"{url}/studies/{study}")
    tab.wait_for_selector("body[data-ready='true']")
    assert _ink(tab, "#pareto-chart") > 0.002, "the Pareto plot drew nothing"
    assert _ink(tab, "#hypervolume-chart") > 0.002, "the hypervolume chart drew nothing"
    series = tab.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('pareto-chart')).getOption()"
        ".series.map(s => [s.name, s.data.map(d => d.number)])"
    )
    by_name = dict((name, numbers) for name, numbers in series)
    front = [t["number"] for t in client.get(f"/api/v1/studies/{study}/pareto").json()]
    assert sorted(by_name["Pareto front"]) == sorted(front) and front
    trials = client.get(f"/api/v1/studies/{study}/trials", params={"limit": 100}).json()["items"]
    infeasible = sorted(t["number"] for t in trials if t["feasible"] is False)
    assert sorted(by_name["infeasible"]) == infeasible == [0, 4, 8, 12, 16, 20]
    assert tab.locator("#trials .badge.infeasible").count() >= 1

    tab.locator("#pareto-chart").scroll_into_view_if_needed()
    point = tab.evaluate(POINT_JS, [1, 0])
    tab.mouse.click(point["x"], point["y"])
    tab.wait_for_selector("#trial-detail:not(.hidden)")
    assert tab.get_attribute("#trial-detail", "data-trial-number") == str(point["number"])
    assert tab.inner_text("#trial-detail-title") == f"Trial #{point['number']}"
    assert "n_params" in tab.inner_text("#trial-detail").lower()
    tab.screenshot(path=str(screenshots / "study-pareto.png"), full_page=True)
