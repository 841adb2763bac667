"""The storage: the grace period's floor, and a database that cannot be written."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from study.cli import main
from study.storage import open_storage
from tests.study.helpers import storage_url, write_space
from vitlab.errors import UserError


@pytest.mark.parametrize(
    ("heartbeat", "grace", "refused"),
    [(1, 3, False), (1, 2, True), (None, None, False), (None, 20, True), (20, None, False)],
)
def test_a_grace_shorter_than_three_heartbeats_is_refused(heartbeat, grace, refused, tmp_path):
    url = storage_url(tmp_path)
    if not refused:
        storage = open_storage(url, heartbeat_interval=heartbeat, grace_period=grace)
        assert storage.get_heartbeat_interval() == (heartbeat or 10)
        return
    with pytest.raises(UserError) as caught:
        open_storage(url, heartbeat_interval=heartbeat, grace_period=grace)
    message = str(caught.value)
    assert f"--grace {grace} is shorter than 3 heartbeats" in message and "\n" not in message


@contextmanager
def read_only_mount(folder: Path) -> Iterator[Path]:
    """A tmpfs at ``folder``, remounted read-only by the caller (root: chmod denies nothing)."""
    folder.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(folder)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)  # even if a file is open


@pytest.mark.parametrize("how", ["read-only file system", "sqlite ?mode=ro"])
def test_a_database_that_cannot_be_written_says_so(
    how, tmp_path, tiny_manifest, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # the split goes under tmp_path
    space = write_space(tmp_path, trials=1, epochs=1)
    with ExitStack() as stack:
        if how == "read-only file system":
            folder = stack.enter_context(read_only_mount(tmp_path / "ro"))
            # An existing database (closed: a file open for writing keeps the mount rw)...
            open_storage(f"sqlite:///{folder / 'studies.db'}").engine.dispose()
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)  # ...made ro
            url = f"sqlite:///{folder / 'studies.db'}"
        else:
            open_storage(storage_url(tmp_path)).engine.dispose()
            url = f"sqlite:///file:{tmp_path / 'studies.db'}?mode=ro&uri=true"
        code = main(["run", "--space", str(space), "--storage", url, "--data", str(tiny_manifest)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: storage {url!r}: the database cannot be written"), err
    assert "max length" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "results" / "cache").exists()  # refused before the slow image cache


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--grace", "5"], "--grace 5 is shorter than 3 heartbeats"),
        (["--heartbeat", "0"], "--heartbeat 0: expected seconds > 0"),
    ],
)
def test_bad_heartbeat_flags_fail_before_any_data_is_read(
    flags, message, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    space = write_space(tmp_path)
    assert main(["run", "--space", str(space), "--storage", storage_url(tmp_path), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "results").exists()  # no split, no cache, no database


def test_the_default_study_is_the_only_one_a_linked_study_does_not_measure(tmp_path):
    import optuna

    from study.records import MEASURES
    from study.storage import pick_study

    url = storage_url(tmp_path)
    storage = open_storage(url, heartbeat=False)
    optuna.create_study(study_name="demo", storage=storage)
    linked = optuna.create_study(study_name="demo:ablate", storage=storage)
    linked.set_user_attr(MEASURES, "demo")
    assert pick_study(storage, None, url) == "demo"
    assert pick_study(storage, "demo:ablate", url) == "demo:ablate"
    optuna.create_study(study_name="other", storage=storage)
    with pytest.raises(UserError, match="holds 2 studies"):
        pick_study(storage, None, url)
    with pytest.raises(UserError, match="has no study 'nope'"):
        pick_study(storage, "nope", url)
