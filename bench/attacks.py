"""Under fire: replay the attacks of issue 11 against a real `hpo serve` (admin, worker and read
tokens set) on PostgreSQL and SQLite, and print a markdown table per database: the attack, the
status codes answered, whether it was refused, the server's CPU seconds spent on it (psutil on
the server pid, before and after), and whether every study still reads afterwards.

    .venv/bin/python bench/attacks.py [--backends postgresql,sqlite]

Each attack is one function below returning (status codes, refused). Refused means: the
hostile request was answered with a 4xx (or, where the request is legal, did no harm: the
victim's lease stayed the victim's, good claims never failed, the worker kept retrying...).
About 1-2 minutes on a 2-core VM.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _service_bench import free_port, hpo_serve, machine_line, postgres_database

TOKENS = {"admin": "atk-admin", "worker": "atk-worker", "read": "atk-read"}
ENV = {
    "HPO_API_TOKEN": TOKENS["admin"],
    "HPO_WORKER_TOKEN": TOKENS["worker"],
    "HPO_READ_TOKEN": TOKENS["read"],
    "HPO_LEASE_SECONDS": "600",
}
SPACE = {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}}
TASK = {"model": "mlp", "dataset": "digits", "epochs": 1}
Result = tuple[list[int | str], bool]


def H(scope: str) -> dict[str, str]:
    return {"authorization": f"Bearer {TOKENS[scope]}"}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


class Target:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=60)
        self.created: list[str] = []  # paths to DELETE after each attack

    def forget(self, answer: httpx.Response, kind: str) -> None:
        """Remember what an answer created, so the next attack starts from a clean server (a
        broken study from one attack must not be counted against the next)."""
        if answer.status_code == 201:
            self.created.append(f"/api/v1/{kind}/{answer.json()['id']}")

    def cleanup(self) -> None:
        for path in reversed(self.created):
            self.code("DELETE", path)
        self.created.clear()

    def call(
        self, method: str, path: str, scope: str | None = "admin", **kw: Any
    ) -> httpx.Response:
        headers = {**(H(scope) if scope else {}), **kw.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kw)

    def code(self, method: str, path: str, scope: str | None = "admin", **kw: Any) -> int | str:
        try:
            return self.call(method, path, scope, **kw).status_code
        except httpx.TransportError as e:
            return type(e).__name__

    def study(self, name: str, **extra: Any) -> int:
        spec = {"name": name, "task": TASK, "space": SPACE, "sampler": "random"}
        spec["budget"] = {"n_trials": 100, "max_parallel": 100}
        answer = self.call("POST", "/api/v1/studies", json={**spec, **extra})
        answer.raise_for_status()
        self.forget(answer, "studies")
        return int(answer.json()["id"])

    def claim(self, worker: str) -> dict[str, Any]:
        answer = self.call("POST", "/api/v1/workers/claim", "worker", json={"worker_id": worker})
        answer.raise_for_status()
        return dict(answer.json())

    def reads_work(self) -> bool:
        try:
            listing = self.call("GET", "/api/v1/studies?limit=1000", "read")
            if listing.status_code != 200:
                return False
            for study in listing.json():
                for tail in ("", "/trials", "/leaderboard"):
                    path = f"/api/v1/studies/{study['id']}{tail}"
                    if self.call("GET", path, "read").status_code != 200:
                        return False
        except httpx.TransportError:
            return False
        return True


def lease_takeover(t: Target) -> Result:
    """1: complete-and-claim with another worker's id hands out its lease."""
    t.study("takeover")
    mine, victim = t.claim("attacker"), t.claim("victim-host")
    body = {"lease_token": mine["lease_token"], "value": 0.5}
    first = t.call("POST", f"/api/v1/trials/{mine['trial_id']}/complete", "worker", json=body)
    body |= {"worker_id": "victim-host"}
    path = f"/api/v1/trials/{mine['trial_id']}/complete-and-claim"
    retry = t.call("POST", path, "worker", json=body)
    taken = (retry.json().get("next") or {}) if retry.status_code == 200 else {}
    own = {"lease_token": victim["lease_token"], "value": 0.9}
    victims = t.call("POST", f"/api/v1/trials/{victim['trial_id']}/complete", "worker", json=own)
    stolen = taken.get("trial_id") == victim["trial_id"]
    handed = "the victim's lease" if stolen else ("a new lease" if taken else "none")
    codes: list[int | str] = [first.status_code, f"{retry.status_code} (next: {handed})"]
    return [*codes, f"victim's complete {victims.status_code}"], not stolen


def nested_metrics(t: Target) -> Result:
    """2: metrics 300 lists deep."""
    t.study("nested")
    lease = t.claim("w-nested")
    token = lease["lease_token"]
    raw = f'{{"lease_token": "{token}", "value": 0.5, "metrics": {{"m": {nested(300)}}}}}'
    path = f"/api/v1/trials/{lease['trial_id']}/complete"
    code = t.code("POST", path, "worker", content=raw, headers={"content-type": "application/json"})
    return [code], isinstance(code, int) and 400 <= code < 500


def sampler_options(t: Target) -> Result:
    """3: sampler options that cannot work (NaN, a string), then claims of other studies."""
    codes: list[int | str] = []
    for name, value in (("tpe", "NaN"), ("tpe", '"ten"'), ("gp", "NaN")):
        raw = (
            json.dumps(
                {"name": f"opt-{name}", "task": TASK, "space": SPACE, "budget": {"n_trials": 5}}
            )[:-1]
            + f', "sampler": {{"name": "{name}", "options": {{"n_startup_trials": {value}}}}}}}'
        )
        answer = t.call("POST", "/api/v1/studies", content=raw,
                        headers={"content-type": "application/json"})  # fmt: skip
        t.forget(answer, "studies")
        codes.append(answer.status_code)
    t.study("bystander")
    claims = [t.code("POST", "/api/v1/workers/claim", "worker", json={"worker_id": f"c{i}"})
              for i in range(10)]  # fmt: skip
    codes += sorted(set(claims), key=str)
    refused = all(c == 422 for c in codes[:3]) and all(c in (200, 204) for c in claims)
    return codes, refused


def dataset_path(t: Target) -> Result:
    """4: a dataset path that reads worker files (refused at creation?)."""
    codes: list[int | str] = []
    for dataset in ("csv:/proc/self/cmdline?label=x", "csv:../../../etc/passwd?label=x"):
        spec = {"name": "path", "task": {**TASK, "dataset": dataset}, "space": SPACE}
        answer = t.call("POST", "/api/v1/studies", json=spec)
        t.forget(answer, "studies")
        codes.append(answer.status_code)
    return codes, all(isinstance(c, int) and 400 <= c < 500 for c in codes)


def non_ascii_token(t: Target) -> Result:
    """5: a non-ASCII lease token on every lease route."""
    sid = t.study("ascii")
    trial = t.claim("w-ascii")["trial_id"]
    asked = t.call("POST", f"/api/v1/studies/{sid}/ask", json={}).json()["trial_id"]
    bodies: dict[str, dict[str, Any]] = {
        "heartbeat": {}, "reports": {"step": 1, "value": 0.5}, "complete": {"value": 0.5},
        "complete-and-claim": {"value": 0.5, "worker_id": "w"},
        "fail": {"failure_class": "user"},
    }  # fmt: skip
    codes = [
        t.code("POST", f"/api/v1/trials/{trial}/{route}", "worker",
               json={"lease_token": "tökén", **body})
        for route, body in bodies.items()
    ]  # fmt: skip
    codes.append(t.code("POST", f"/api/v1/trials/{asked}/tell",
                        json={"lease_token": "tökén", "value": 1.0}))  # fmt: skip
    return sorted(set(codes), key=str), all(isinstance(c, int) and c < 500 for c in codes)


def bad_claim_batch(t: Target) -> Result:
    """6: bad claims (a 100-char device, a NUL in worker_id) among good ones."""
    t.study("batch")
    bad = [{"worker_id": "w", "devices": ["d" * 100]}, {"worker_id": "w\x00nul"}]

    def claim(i: int) -> tuple[bool, int | str]:
        body = bad[i % 2] if i % 3 == 0 else {"worker_id": f"good-{i}"}
        return i % 3 != 0, t.code("POST", "/api/v1/workers/claim", "worker", json=body)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(claim, range(48)))
    bad_codes = sorted({c for good, c in answers if not good}, key=str)
    good_failed = [c for good, c in answers if good and c not in (200, 204)]
    codes: list[int | str] = [*bad_codes, f"good failed: {len(good_failed)}/32"]
    ok = all(isinstance(c, int) and 400 <= c < 500 for c in bad_codes) and not good_failed
    return codes, ok


def comparison_budget(t: Target) -> Result:
    """7: a comparison with n_trials 1 000 000 x 2 repeats, then its anonymous... read."""
    spec = {"name": "huge", "task": TASK, "space": SPACE, "n_trials": 1_000_000, "repeats": 2,
            "samplers": [{"name": "random"}]}  # fmt: skip
    created = t.call("POST", "/api/v1/comparisons", json=spec)
    t.forget(created, "comparisons")
    codes: list[int | str] = [created.status_code]
    if created.status_code == 201:
        codes.append(t.code("GET", f"/api/v1/comparisons/{created.json()['id']}", "read"))
    sid = t.study("raise")
    codes.append(t.code("PATCH", f"/api/v1/studies/{sid}", json={"n_trials": 10**9}))
    return codes, created.status_code == 422 and codes[-1] == 422


def metrics_counter(t: Target) -> Result:
    """8: hpo_http_requests_total counts requests."""
    for _ in range(20):
        t.code("GET", "/api/v1/studies", "read")
    text = t.call("GET", "/metrics", "read").text
    total = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line.startswith("hpo_http_requests_total"))  # fmt: skip
    return [f"total={total:.0f}"], total >= 20


def _limited(argv: list[str], timeout: float) -> tuple[int | str, str]:
    """Run a CLI with 1 GiB of address space (so a billion laughs cannot take the VM)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))

    env = {**os.environ, "HPO_API_TOKEN": TOKENS["admin"]}
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=limit, env=env)  # fmt: skip
    except subprocess.TimeoutExpired:
        return "timeout", ""
    return done.returncode, done.stderr.strip().splitlines()[-1][:80] if done.stderr else ""


def yaml_bombs(t: Target) -> Result:
    """9: `hpo study create` on a billion-laughs YAML and on deeply nested YAML."""
    url = str(t.http.base_url).rstrip("/")
    laughs = (
        "a: &a ["
        + ",".join(["lol"] * 10)
        + "]\n"
        + "".join(
            f"{c}: &{c} [" + ",".join([f"*{p}"] * 10) + "]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
    )
    codes: list[int | str] = []
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in (("laughs", laughs), ("deep", "a: " + "[" * 5000 + "]" * 5000)):
            path = Path(tmp) / f"{name}.yaml"
            path.write_text(text)
            argv = [sys.executable, "-m", "hpo.cli", "study", "create", str(path), "--api", url]
            rc, line = _limited(argv, 60)  # the token from $HPO_API_TOKEN, not argv
            codes.append(f"rc {rc}")
            lines.append(line)
    one_line = all("Traceback" not in line and "RecursionError" not in line for line in lines)
    return codes, all(c == "rc 2" for c in codes) and one_line


def worker_outage(port: int, wait_s: float = 90) -> Callable[[], Result]:
    """10: `hpo worker` against an API that is not there: still retrying after `wait_s`?
    Started first and judged last, so its wait overlaps the attacks on the servers."""
    argv = [sys.executable, "-m", "hpo.cli", "worker", "--api", f"http://127.0.0.1:{port}",
            "--device", "cpu", "--poll-seconds", "0.5"]  # fmt: skip
    env = {**os.environ, "HPO_WORKER_TOKEN": TOKENS["worker"]}  # never on a command line
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()

    def judge() -> Result:
        while process.poll() is None and time.monotonic() - started < wait_s:
            time.sleep(0.5)
        rc = process.poll()
        if rc is None:
            process.kill()
            process.wait()
            return [f"alive at {wait_s:.0f} s"], True
        return [f"rc {rc} after {time.monotonic() - started:.0f} s"], False

    return judge


def schema_answers(t: Target) -> Result:
    """11: GET /best of a study without a result, and OPTIONS on a route."""
    sid = t.study("best")
    best = t.call("GET", f"/api/v1/studies/{sid}/best", "read")
    options = t.call("OPTIONS", f"/api/v1/studies/{sid}", "read")
    documented = t.call("GET", "/openapi.json").json()["paths"]["/api/v1/studies/{study_id}/best"]
    declared = str(best.status_code) in documented["get"]["responses"]
    allow = {m.strip() for m in options.headers.get("allow", "").split(",")}
    full = {"GET", "PATCH", "DELETE"} <= allow
    return [best.status_code, options.status_code, f"Allow: {','.join(sorted(allow))}"], (
        declared and full
    )


def access_checks(t: Target) -> list[tuple[str, Callable[[], Result]]]:
    """Each scope beyond its rights: refused means 401/403."""
    own = t.call("POST", "/api/v1/studies", json={"name": "own", "task": TASK, "space": SPACE,
                                                  "client_token": True}).json()  # fmt: skip
    other = t.study("other")
    client = {"authorization": f"Bearer {own.get('client_token', 'none')}"}
    spec = {"name": "x", "task": TASK, "space": SPACE}
    checks: list[tuple[str, str, str, str | None, dict[str, Any]]] = [
        ("worker token reads studies", "GET", "/api/v1/studies", "worker", {}),
        ("worker token reads trials", "GET", f"/api/v1/studies/{other}/trials", "worker", {}),
        ("read token creates a study", "POST", "/api/v1/studies", "read", {"json": spec}),
        ("read token claims", "POST", "/api/v1/workers/claim", "read",
         {"json": {"worker_id": "r"}}),
        ("no token reads studies", "GET", "/api/v1/studies", None, {}),
        ("client token asks another study", "POST", f"/api/v1/studies/{other}/ask", None,
         {"headers": client, "json": {}}),
        ("client token reads its study", "GET", f"/api/v1/studies/{own.get('id')}", None,
         {"headers": client}),
    ]  # fmt: skip

    def check(method: str, path: str, scope: str | None, kw: dict[str, Any]) -> Result:
        code = t.code(method, path, scope, **kw)
        return [code], code in (401, 403)

    return [
        (name, lambda m=m, p=p, s=s, kw=kw: check(m, p, s, kw))  # type: ignore[misc]
        for name, m, p, s, kw in checks
    ]


ATTACKS: list[tuple[str, Callable[[Target], Result]]] = [
    ("1 complete-and-claim with the victim's worker_id", lease_takeover),
    ("2 metrics 300 lists deep", nested_metrics),
    ('3 sampler options NaN / "ten", then 10 claims', sampler_options),
    ("4 dataset csv:/proc/self/cmdline, ../ path", dataset_path),
    ("5 non-ASCII lease token on 6 routes", non_ascii_token),
    ("6 bad claims among 32 good (8 threads)", bad_claim_batch),
    ("7 comparison n_trials 1e6 x 2; study n_trials 1e9", comparison_budget),
    ("8 hpo_http_requests_total after 20 requests", metrics_counter),
    ("9 billion laughs / 5000-deep YAML (CLI)", yaml_bombs),
    ("11 GET /best without results; OPTIONS", schema_answers),
]


HEADER = ["| attack | answered | refused | server CPU s | reads after |", "|---|---|---|---|---|"]


def run_backend(backend: str, log_dir: Path) -> list[str]:
    with ExitStack() as stack:
        if backend == "postgresql":
            url = stack.enter_context(postgres_database("attacks"))
        else:
            url = f"sqlite:///{stack.enter_context(tempfile.TemporaryDirectory())}/hpo.db"
        base, process = stack.enter_context(
            hpo_serve(url, log=log_dir / f"attacks-{backend}.log", env=ENV)
        )
        target = Target(base)
        server = psutil.Process(process.pid)
        rows = [f"\n### {backend}\n", *HEADER]

        def row(name: str, attack: Callable[[], Result]) -> None:
            before = sum(server.cpu_times()[:2])
            try:
                codes, refused = attack()
            except Exception as e:  # an attack that breaks the harness is a finding too
                codes, refused = [f"{type(e).__name__}: {str(e)[:60]}"], False
            spent = sum(server.cpu_times()[:2]) - before
            reads = "yes" if target.reads_work() else "**no**"
            target.cleanup()
            shown = ", ".join(str(c) for c in codes)
            rows.append(
                f"| {name} | {shown} | {'yes' if refused else '**no**'} | {spent:.2f} | {reads} |"
            )
            print(rows[-1], flush=True)

        for name, attack in ATTACKS:
            row(name, lambda attack=attack: attack(target))  # type: ignore[misc]
        try:
            checks = access_checks(target)
        except httpx.HTTPError as e:
            failed: Result = ([type(e).__name__], False)
            checks = [("set-up", lambda: failed)]
        for name, check in checks:
            row(f"access: {name}", check)
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="postgresql,sqlite")
    args = parser.parse_args()
    started = time.monotonic()
    outage = worker_outage(free_port())
    out: list[str] = []
    with tempfile.TemporaryDirectory() as logs:
        for backend in args.backends.split(","):
            out += run_backend(backend, Path(logs))
    codes, refused = outage()
    out += ["\n### no server\n", *HEADER]
    out.append(
        f"| 10 hpo worker with no API | {codes[0]} | {'yes' if refused else '**no**'} | - | - |"
    )
    print(f"\n{machine_line()}, {time.monotonic() - started:.0f} s")
    print("\n".join(out))


if __name__ == "__main__":
    main()
