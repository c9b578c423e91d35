"""A study task that runs the user's own program: `kind: command` (the built-in MLP/CNN are
`kind: builtin`, the default, in hpo.spec)::

    task:
      kind: command
      command: ["python", "train.py", "--lr", "{lr}", "--width", "{width}"]
      workdir: examples/digits      # resolved on the worker, inside one of its --allow-commands
      metric: val_accuracy
      direction: maximize
      timeout_s: 3600
      env: {OMP_NUM_THREADS: "2"}

`{name}` placeholders in the command's arguments and the env's values take the trial's params
and fixed values; `{{` and `}}` are literal braces. Checked when the study is created
(`check_placeholders`): a placeholder that names nothing, or a param that reaches the script
neither as a placeholder nor (with `params_in_env: true`) through `HPO_PARAMS`, is refused then,
not discovered in N failed trials. The worker fills them in with `substitute`: each argument
stays one argv element whatever a value holds (no shell ever parses it).
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

MAX_ARGS = 256
MAX_ARG_LENGTH = 4096
MAX_ENV = 64
DEFAULT_TIMEOUT_S = 24 * 3600.0
MAX_TIMEOUT_S = 30 * 24 * 3600.0
# Set by the worker for every attempt: a study may not override them.
RESERVED_ENV = ("HPO_", "CUDA_VISIBLE_DEVICES")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_METRIC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*\Z")

Arg = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ARG_LENGTH)]
EnvValue = Annotated[str, StringConstraints(max_length=MAX_ARG_LENGTH)]


class CommandTaskSpec(BaseModel):
    """What to run for each trial, where, and which reported number is its value."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    kind: Literal["command"]
    command: list[Arg] = Field(min_length=1, max_length=MAX_ARGS)
    workdir: str = Field(default=".", min_length=1, max_length=1024)
    metric: str = Field(min_length=1, max_length=100)
    direction: Literal["minimize", "maximize"] | None = None
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, le=MAX_TIMEOUT_S)
    env: dict[str, EnvValue] = Field(default_factory=dict, max_length=MAX_ENV)
    # true: the script reads its params from HPO_PARAMS (the SDK, `from hpo import trial`,
    # does), so a param need not appear as a placeholder.
    params_in_env: bool = Field(default=False, strict=True)

    @field_validator("metric")
    @classmethod
    def _metric_name(cls, metric: str) -> str:
        if not _METRIC_NAME.match(metric):
            raise ValueError(
                f"metric {metric[:40]!r}: use letters, digits and _ . - / (the key the script "
                "prints in its JSON lines)"
            )
        return metric

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if not _ENV_NAME.match(name):
                raise ValueError(
                    f"env name {name[:40]!r} is not a variable name ([A-Za-z_][A-Za-z0-9_]*)"
                )
            if name.startswith(RESERVED_ENV):
                raise ValueError(
                    f"env {name}: HPO_* and CUDA_VISIBLE_DEVICES are set by the worker for each "
                    "attempt; use another name"
                )
        return env

    @field_validator("command")
    @classmethod
    def _no_nul(cls, command: list[str]) -> list[str]:
        for i, arg in enumerate(command):
            if "\x00" in arg:
                raise ValueError(f"command[{i}] contains a NUL byte, which no argument can hold")
        return command

    @model_validator(mode="after")
    def _infer_direction(self) -> CommandTaskSpec:
        if self.direction is None:
            inferred = "minimize" if self.metric.endswith("loss") else "maximize"
            object.__setattr__(self, "direction", inferred)
        for where, text in self.templates():
            list(placeholders(text, where))  # malformed braces fail here, with where they are
        return self

    def templates(self) -> Iterator[tuple[str, str]]:
        """(where, text) for every string that may hold placeholders."""
        for i, arg in enumerate(self.command):
            yield f"command[{i}]", arg
        for name, value in self.env.items():
            yield f"env.{name}", value


def placeholders(text: str, where: str) -> Iterator[str]:
    """The names of the `{name}` placeholders in `text`; ValueError naming `where` for a brace
    left open, `{}`, or a format spec (`{lr:.3f}`: values are passed as they are)."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as e:
        raise ValueError(
            f"{where}: {e} in {text[:80]!r} (write {{{{ and }}}} for literal braces)"
        ) from None
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if not name:
            raise ValueError(f"{where}: empty placeholder {{}} in {text[:80]!r}: name a param")
        if spec or conversion:
            raise ValueError(
                f"{where}: placeholder {{{name}...}} has a format; write just {{{name}}}"
            )
        yield name


def check_placeholders(task: CommandTaskSpec, params: Iterable[str], fixed: Iterable[str]) -> None:
    """Every placeholder names a searched param or a fixed value, and every searched param
    reaches the script (a placeholder, or `params_in_env`). ValueError says which does not."""
    searched, known = list(params), set(params) | set(fixed)
    used: set[str] = set()
    for where, text in task.templates():
        for name in placeholders(text, where):
            if name not in known:
                choices = ", ".join(sorted(known)) or "none: the space and fixed are empty"
                raise ValueError(
                    f"task.{where}: placeholder {{{name}}} is neither a param of the space nor "
                    f"a fixed value (those are: {choices})"
                )
            used.add(name)
    unused = [name for name in searched if name not in used]
    if unused and not task.params_in_env:
        names = ", ".join(unused)
        example = unused[0]
        raise ValueError(
            f"space.{names}: not passed to the script: add {{{example}}} to task.command (or "
            "task.env), or set task.params_in_env: true if the script reads HPO_PARAMS"
        )


def argument_text(value: Any) -> str:
    """A param value as the script receives it: JSON spelling for booleans (true/false),
    Python's shortest round-tripping form for numbers, strings as they are."""
    if isinstance(value, bool):
        return json.dumps(value)
    return str(value)


def substitute(text: str, values: Mapping[str, Any]) -> str:
    """`text` with each `{name}` replaced by its value (a KeyError for a name not in `values`:
    creation checked that none is missing)."""
    out: list[str] = []
    for literal, name, _spec, _conversion in string.Formatter().parse(text):
        out.append(literal)
        if name is not None:
            out.append(argument_text(values[name]))
    return "".join(out)


def command_argv(task: CommandTaskSpec, values: Mapping[str, Any]) -> list[str]:
    return [substitute(arg, values) for arg in task.command]


def command_env(task: CommandTaskSpec, values: Mapping[str, Any]) -> dict[str, str]:
    return {name: substitute(value, values) for name, value in task.env.items()}


def task_kind(task: Mapping[str, Any]) -> str:
    """A stored task's kind: `builtin` when it says none (every spec before command trials)."""
    return str(task.get("kind") or "builtin")


TASK_KINDS: Sequence[str] = ("builtin", "command")
