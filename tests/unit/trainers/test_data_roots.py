"""A worker reads user datasets only inside its data roots, and no dataset error carries what a
file holds (issue 11, defect 4): `csv:/proc/self/cmdline?label=x` used to put the worker's
command line, its --token included, into the trial's published failure message."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from trainers.data import load_dataset
from trainers.errors import ConfigError

SECRET = "s3cret-f1le-c0ntent"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A data root holding one good csv, beside a secret file outside it."""
    data = tmp_path / "datasets"
    data.mkdir()
    rows = "".join(f"{i % 7},{i % 5},{'ab'[i % 2]}\n" for i in range(40))
    (data / "good.csv").write_text("a,b,label\n" + rows)
    (tmp_path / "secret.csv").write_text(f"label,{SECRET}\nx,1\ny,2\n")
    return data


def refused(dataset: str, roots: list[Path]) -> str:
    with pytest.raises(ConfigError) as err:
        load_dataset(dataset, data_roots=roots)
    message = str(err.value)
    assert "outside this worker's data roots" in message, message
    assert str(roots[0]) in message  # says which roots are allowed
    return message


def test_proc_self_cmdline_is_refused_without_its_content(root: Path) -> None:
    message = refused("csv:/proc/self/cmdline?label=x", [root])
    args = Path("/proc/self/cmdline").read_bytes().split(b"\0")
    for arg in (a.decode() for a in args if len(a) > 6):
        if arg not in str(root):
            assert arg not in message, f"{arg!r} leaked into {message!r}"
    refused("csv:/proc/self/environ?label=x", [root])


def test_etc_passwd_and_dot_dot_and_symlinks_out_are_refused(root: Path) -> None:
    assert "root:" not in refused("csv:/etc/passwd?label=x", [root])
    assert SECRET not in refused("csv:../secret.csv?label=label", [root])
    assert SECRET not in refused(f"csv:{root}/../secret.csv?label=label", [root])
    (root / "link.csv").symlink_to(root.parent / "secret.csv")
    assert SECRET not in refused("csv:link.csv?label=label", [root])
    (root / "etc").symlink_to("/etc")
    refused("csv:etc/passwd?label=x", [root])


def test_a_refused_path_says_nothing_about_whether_it_exists(root: Path) -> None:
    there = refused("csv:/etc/passwd?label=x", [root])
    missing = refused("csv:/etc/no-such-file?label=x", [root])
    assert there.replace("passwd", "") == missing.replace("no-such-file", "")


def test_files_inside_the_roots_load_relative_or_absolute(root: Path, tmp_path: Path) -> None:
    other = tmp_path / "more"
    other.mkdir()
    assert load_dataset("csv:good.csv?label=label", data_roots=[other, root]).n_classes == 2
    assert load_dataset(f"csv:{root}/good.csv?label=label", data_roots=[root]).n_classes == 2
    with pytest.raises(ConfigError, match="not found under this worker's data roots"):
        load_dataset("csv:absent.csv?label=label", data_roots=[root])
    # Without roots (a person's own `hpo train`) any path is read, as before.
    assert load_dataset(f"csv:{root}/good.csv?label=label").n_classes == 2


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (f"a,label\n1,x\n{SECRET},y\n", ":3: column 'a' is not a number"),
        (f"{SECRET},other\n1,2\n", "(2 columns)"),  # label column missing: no header listed
        (b"a,label\n1,x\n\xff\xfe" + SECRET.encode() + b",y\n", ":3: not UTF-8"),
        (f"a,label\n1,x\n2\x00{SECRET},y\n", ":3: column 'a' is not a number"),
        (f'a,label\n1,x\n2,"{SECRET}' + "z" * 200_000 + '"\n', "malformed CSV"),
    ],
)
def test_csv_errors_say_where_not_what(root: Path, content: str | bytes, where: str) -> None:
    path = root / "bad.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_dataset("csv:bad.csv?label=label", data_roots=[root])
    assert where in str(err.value), str(err.value)
    assert SECRET not in str(err.value)


def test_npz_errors_say_where_not_what(root: Path) -> None:
    (root / "text.npz").write_text(f"{SECRET}\n" * 10)
    with pytest.raises(ConfigError, match="cannot read") as err:
        load_dataset("npz:text.npz", data_roots=[root])
    assert SECRET not in str(err.value)
    np.savez(
        root / "labels.npz",
        X=np.zeros((6, 2)),
        y=np.array(["a", "b"] * 3),
        X_test=np.zeros((2, 2)),
        y_test=np.array([SECRET, "a"]),
    )
    with pytest.raises(ConfigError, match="1 label") as err:
        load_dataset("npz:labels.npz", data_roots=[root])
    assert SECRET not in str(err.value)


def test_the_check_resolves_the_roots_themselves(root: Path, tmp_path: Path) -> None:
    # A root given through a symlink still holds its files (both sides are resolved).
    alias = tmp_path / "alias"
    os.symlink(root, alias)
    assert load_dataset("csv:good.csv?label=label", data_roots=[alias]).n_classes == 2
