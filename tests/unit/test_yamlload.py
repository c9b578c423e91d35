"""The one YAML loader (hpo.yamlload) and the spec reader that uses it: a billion-laughs
file and a deeply nested one are refused with a one-line message, ordinary anchors and
merge keys still load."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo import yamlload
from hpo.errors import ValidationError
from hpo.space import read_mapping

SPEC = """\
name: s
task: {model: mlp, dataset: digits}
space: {x: {type: float, low: 0, high: 1}}
"""


def billion_laughs(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return SPEC + "\n".join(lines) + "\n"


def deep(levels: int) -> str:
    return SPEC + "fixed: " + "[" * levels + "]" * levels + "\n"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (billion_laughs(), f"more than {yamlload.MAX_NODES} values once its aliases"),
        (deep(20_000), f"nested deeper than {yamlload.MAX_DEPTH} levels"),
        (deep(yamlload.MAX_DEPTH + 1), f"nested deeper than {yamlload.MAX_DEPTH} levels"),
        (SPEC + "loop: &a [*a]\n", "refers to the anchor it is inside"),
        (SPEC + "space: [1, 2\n", "is not valid YAML"),
    ],
)
def test_hostile_yaml_is_one_line_validation_error(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(ValidationError) as raised:
        read_mapping(path)
    message = str(raised.value)
    assert says in message and "\n" not in message and str(path) in message


def test_aliases_expanding_deep_are_refused() -> None:
    # Shallow where written, deep once the alias is expanded.
    half = yamlload.MAX_DEPTH // 2 + 2
    text = "a: &a " + "[" * half + "]" * half + "\nb: " + "[" * half + "*a" + "]" * half + "\n"
    with pytest.raises(ValidationError, match="once its aliases are expanded"):
        yamlload.load_yaml(text)


def test_anchors_and_merge_keys_still_load() -> None:
    text = "base: &base {epochs: 2, lr: 0.1}\nrun: {<<: *base, lr: 0.2}\nlist: [*base, *base]\n"
    data = yamlload.load_yaml(text)
    assert data["run"] == {"epochs": 2, "lr": 0.2} and data["list"] == [data["base"]] * 2
    assert yamlload.load_yaml("") is None
