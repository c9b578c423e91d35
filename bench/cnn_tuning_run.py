"""Run a sampler comparison with its studies interleaved, journaling progress; save its view.

    .venv/bin/python bench/cnn_tuning_run.py --api http://127.0.0.1:8791 \
        --spec search_spaces/compare_cnn_mnist1d.yaml --out bench/out/cnn-tuning

Why interleave: the service hands a free worker the least busy study, ties broken by the lowest
id, and a comparison's studies are created sampler-major. With one or two workers the studies
would run one after another: grid's seeds first, LIPO's last. On a shared machine whose load
changes over the hour, each sampler would then be timed under a different load (the curves by
training time would compare the load, not the samplers), and a run cut short would leave the
last samplers with nothing. So this script keeps running only the studies that have created
the fewest trials and pauses the others (a paused study gets no new claims; its running trial
finishes), which makes every study advance in step: round-robin, one trial at a time.

It creates the comparison (or attaches to --id N), balances every --poll seconds, writes one
journal line a minute to OUT/journal.log, and when the comparison is over saves
`GET /api/v1/comparisons/{id}` to OUT/comparison.json and every study's trials to
OUT/trials.json (params, state, value, duration), for bench/cnn_tuning_plots.py.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hpo.client import ApiError, Client
from hpo.commands.compare import read_comparison_spec

OPEN_STATES = ("running", "paused")


def created(study: dict[str, Any]) -> int:
    """Trials the study has created so far, in any state."""
    return sum(int(n) for n in study["counts"].values())


def balance(client: Client, studies: list[dict[str, Any]]) -> None:
    """Run the open studies with the fewest created trials; pause the other open ones.
    A study that has created its whole budget is never left paused (it would never end)."""
    live = [s for s in studies if s["state"] in OPEN_STATES]
    with_room = [s for s in live if created(s) < s["n_trials"]]
    fewest = min((created(s) for s in with_room), default=None)
    for s in live:
        run = created(s) >= s["n_trials"] or created(s) == fewest
        action = None
        if run and s["state"] == "paused":
            action = "resume"
        elif not run and s["state"] == "running":
            action = "pause"
        if action is None:
            continue
        try:
            client.update_study(int(s["id"]), action=action)
        except ApiError as e:  # the study changed state meanwhile (completed): next poll
            if e.status != 409:
                raise


def journal(path: Path, line: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with path.open("a") as f:
        f.write(f"{stamp} {line}\n")
    print(f"{stamp} {line}", flush=True)


def progress_line(view: dict[str, Any], studies: list[dict[str, Any]]) -> str:
    per_sampler: dict[str, int] = {}
    for s in studies:
        per_sampler[s["sampler"]] = per_sampler.get(s["sampler"], 0) + sum(
            int(s["counts"].get(k, 0)) for k in ("completed", "pruned", "failed")
        )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    parts = " ".join(f"{k}={v}" for k, v in per_sampler.items())
    return (
        f"comparison {view['id']} {view['state']}: {view['n_finished']}/{view['n_total']} "
        f"finished ({parts}); load {load}"
    )


def save(client: Client, comparison_id: int, out: Path) -> None:
    view = client.get_comparison(comparison_id)
    (out / "comparison.json").write_text(json.dumps(view, indent=1, default=str))
    trials = {}
    for s in view["studies"]:
        trials[str(s["id"])] = client.trials(int(s["id"]), limit=1000).to_json()
    (out / "trials.json").write_text(json.dumps(trials, indent=1, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--api", required=True)
    parser.add_argument("--spec", type=Path, help="the comparison file (creates a comparison)")
    parser.add_argument("--id", type=int, help="attach to an existing comparison")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--poll", type=float, default=2.0)
    parser.add_argument("--save-only", action="store_true", help="save the JSON files and exit")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "journal.log"
    client = Client(args.api, retries=5)
    if args.id is not None:
        comparison_id = args.id
    elif args.spec is not None:
        view = client.create_comparison(read_comparison_spec(args.spec, {}))
        comparison_id = int(view["id"])
        journal(log, f"created comparison {comparison_id} from {args.spec}")
    else:
        parser.error("give --spec FILE or --id N")
    if args.save_only:
        save(client, comparison_id, args.out)
        return
    started = time.monotonic()
    last_line = 0.0
    while True:
        view = client.get_comparison(comparison_id)
        ids = {int(s["id"]) for s in view["studies"]}
        studies = [s.to_json() for s in client.list_studies(limit=1000) if s.id in ids]
        if view["state"] in ("completed", "cancelled"):
            journal(log, progress_line(view, studies))
            break
        balance(client, studies)
        if time.monotonic() - last_line >= 60:
            journal(log, progress_line(view, studies))
            last_line = time.monotonic()
        time.sleep(args.poll)
    save(client, comparison_id, args.out)
    journal(log, f"done in {time.monotonic() - started:.0f} s; saved {args.out}/comparison.json")


if __name__ == "__main__":
    main()
