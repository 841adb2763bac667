"""Where studies live: an SQLAlchemy URL (SQLite by default, PostgreSQL for many machines).

Heartbeats mark the trials of a dead worker FAILED, and the retry callback queues them again, so a
worker killed mid-trial loses only that trial's progress, never a finished trial.
"""

from __future__ import annotations

import time
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from sqlalchemy import Engine, event, make_url, text
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from study.records import MEASURES
from vitlab.errors import UserError

DEFAULT_DB = Path("results/studies.db")
DEFAULT_ARTIFACTS = Path("results/artifacts")  # where `run` puts each trial's curves.html
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 30  # a trial silent this long belongs to a dead worker
# A busy worker's heartbeat can be late: a shorter grace fails live trials (and runs them twice).
MIN_GRACE_HEARTBEATS = 3
MAX_RETRY = 3
SCHEMA_ATTEMPTS = 5  # workers started together on an empty database race to create its tables


def default_storage_url() -> str:
    return f"sqlite:///{DEFAULT_DB}"


def open_storage(
    url: str | None = None,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    heartbeat: bool = True,
) -> RDBStorage:
    """An RDB storage with heartbeats and retries; creates the SQLite folder if needed."""
    url = url or default_storage_url()
    interval, grace = heartbeat_settings(heartbeat_interval, grace_period)
    engine_kwargs: dict = {}
    database = _sqlite_file(url)
    if database is not None:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        # Several workers share one SQLite file: wait for the write lock instead of failing.
        engine_kwargs = {"connect_args": {"timeout": 60}}
    warnings.filterwarnings("ignore", category=ExperimentalWarning)  # heartbeat is "experimental"
    try:
        storage = _rdb_storage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=interval if heartbeat else None,
            grace_period=grace if heartbeat else None,
            heartbeat_stale_trial_callback=(
                RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY) if heartbeat else None
            ),
        )
    except Exception as e:  # a bad URL, a missing driver, a server that does not answer
        raise UserError(f"storage {url!r} cannot be opened: {type(e).__name__}: {e}") from None
    if storage.engine.dialect.name == "sqlite":
        _begin_immediate(storage.engine)
        if heartbeat:  # a worker: it must write
            _check_writable(storage.engine, url)
    return storage


def _sqlite_file(url: str) -> str | None:
    """The database file of a ``sqlite:///PATH`` URL; None for others, memory and URI names."""
    if not url.startswith("sqlite:///"):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def _begin_immediate(engine: Engine) -> None:
    """Every SQLite transaction takes the write lock when it begins (BEGIN IMMEDIATE).

    Python's sqlite3 begins a transaction only at the first write, so Optuna's check-then-set
    steps (read a WAITING trial, set it RUNNING) read outside any transaction: workers starting
    together all saw the enqueued baseline waiting, and all ran it. Begun IMMEDIATE, a second
    worker's transaction waits for the first to commit, then reads the trial RUNNING.
    """

    @event.listens_for(engine, "connect")
    def _driver_does_not_begin(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # the connections Optuna opened so far reconnect with both hooks


def _check_writable(engine: Engine, url: str) -> None:
    """Fail now, plainly, on a database that cannot be written (a read-only file system or
    ``?mode=ro``); else the first commit fails with Optuna's guess about "max length"."""
    try:
        with engine.connect() as con:
            # A write that changes nothing, rolled back: SQLite refuses it on a read-only file.
            con.exec_driver_sql("UPDATE version_info SET schema_version = schema_version")
            con.rollback()
    except OperationalError as e:
        engine.dispose()  # this storage is not used: close its file
        raise UserError(
            f"storage {url!r}: the database cannot be written ({e.orig}); a read-only "
            "file or file system? Copy it somewhere writable, or give another --storage"
        ) from None


def heartbeat_settings(heartbeat: int | None, grace: int | None) -> tuple[int, int]:
    """(heartbeat, grace) in seconds, defaults filled in and checked (``check_grace``)."""
    heartbeat = HEARTBEAT_SECONDS if heartbeat is None else heartbeat
    grace = max(GRACE_SECONDS, MIN_GRACE_HEARTBEATS * heartbeat) if grace is None else grace
    check_grace(heartbeat, grace)
    return heartbeat, grace


def check_grace(heartbeat: int, grace: int) -> None:
    """Refuse a grace period shorter than a few heartbeats (and non-positive values)."""
    if heartbeat <= 0:
        raise UserError(f"--heartbeat {heartbeat}: expected seconds > 0")
    if grace < MIN_GRACE_HEARTBEATS * heartbeat:
        raise UserError(
            f"--grace {grace} is shorter than {MIN_GRACE_HEARTBEATS} heartbeats of --heartbeat "
            f"{heartbeat} s: other workers would fail live trials; give --grace "
            f"{MIN_GRACE_HEARTBEATS * heartbeat} or more"
        )


@contextmanager
def exclusive(storage: RDBStorage, key: str) -> Iterator[None]:
    """One worker at a time, on every machine, runs the block: for check-then-write steps.

    PostgreSQL: an advisory lock; MySQL: GET_LOCK; SQLite (one machine): a lock file beside
    the database. Other databases: no lock.
    """
    dialect = storage.engine.dialect.name
    if dialect == "sqlite":
        import fcntl

        database = storage.engine.url.database
        if not database or database == ":memory:":
            yield
            return
        with open(f"{database}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return
    if dialect == "postgresql":
        take, give = "SELECT pg_advisory_lock(:k)", "SELECT pg_advisory_unlock(:k)"
        arg: int | str = zlib.crc32(key.encode())
    elif dialect in ("mysql", "mariadb"):
        take, give = "SELECT GET_LOCK(:k, -1)", "SELECT RELEASE_LOCK(:k)"
        arg = key[:64]
    else:
        yield
        return
    with storage.engine.connect() as con:  # a connection of its own, held for the block
        con.execute(text(take), {"k": arg})
        try:
            yield
        finally:
            con.execute(text(give), {"k": arg})


def _rdb_storage(url: str, **kwargs: Any) -> RDBStorage:
    """``RDBStorage(url, ...)``, tried again when another worker created the tables meanwhile.

    CREATE TABLE (and PostgreSQL's CREATE TYPE) check, then create: of several workers starting
    together on an empty database, all but one fail ("already exists" on SQLite, a unique
    violation in PostgreSQL's catalog or on Optuna's version row). By the next attempt the
    tables exist and are used as they are.
    """
    for attempt in range(1, SCHEMA_ATTEMPTS + 1):
        try:
            return RDBStorage(url, **kwargs)
        except (IntegrityError, OperationalError, ProgrammingError) as e:
            lost_race = isinstance(e, IntegrityError) or "already exists" in str(e)
            if not lost_race or attempt == SCHEMA_ATTEMPTS:
                raise
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def pick_study(storage: RDBStorage, study_name: str | None, url: str) -> str:
    """``study_name`` if the storage has it; with no name, the storage's only study that is not
    a linked study (``<study>:ablate``, which measures another)."""
    studies = storage.get_all_studies()
    names = [s.study_name for s in studies]
    found = ", ".join(repr(n) for n in names) or "none"
    if study_name is None:
        sources = [s.study_name for s in studies if MEASURES not in s.user_attrs]
        if len(sources) != 1:
            raise UserError(f"storage {url!r} holds {len(sources)} studies ({found}): pass --study")
        return sources[0]
    if study_name not in names:
        raise UserError(f"storage {url!r} has no study {study_name!r} (it has: {found})")
    return study_name
