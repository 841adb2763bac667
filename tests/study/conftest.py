"""A real PostgreSQL server for the storage tests: a throwaway cluster, a database per test."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from tests.postgres_cluster import INSTALL_HINT, PostgresCluster, find_bin_dir

_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """Fails (never skips) without the server binaries: CI must run these tests."""
    if find_bin_dir() is None:
        if os.environ.get("STUDY_ALLOW_NO_POSTGRES") == "1":
            pytest.skip(INSTALL_HINT)
        pytest.fail(f"{INSTALL_HINT}, or set STUDY_ALLOW_NO_POSTGRES=1 to skip these tests")
    # fsync off: a test server that dies loses nothing anyone needs, and commits get fast.
    with PostgresCluster(settings={"fsync": "off", "synchronous_commit": "off"}) as cluster:
        yield cluster


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """``postgresql+psycopg2://study@127.0.0.1:PORT/test_N``: an empty database of its own."""
    return postgres_cluster.create_database(f"test_{next(_databases)}")


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """The working directory in tmp_path: results/ (splits, cache) and data/ go there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
