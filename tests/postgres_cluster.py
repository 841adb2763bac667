"""A throwaway PostgreSQL server for tests and benchmarks: initdb, pg_ctl, one database each.

The server binaries come from the Debian package ``postgresql`` (``/usr/lib/postgresql/<ver>/bin``,
not on PATH). initdb refuses to run as root, so as root the server runs as the ``postgres`` system
user (or ``nobody``) in a temporary folder it owns; clients connect over TCP on 127.0.0.1 with
trust authentication, so nothing here needs a password.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from glob import glob
from pathlib import Path
from types import TracebackType

SUPERUSER = "study"
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
    "/usr/lib/postgresql/*/bin: install the Debian package `postgresql` "
    "(apt-get install postgresql)"
)


def find_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl: PATH first, then the newest Debian install."""
    candidates = []
    found = shutil.which("initdb")
    if found:
        candidates += [Path(found).resolve().parent, Path(found).parent]

    def version(bin_dir: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", bin_dir.parent.name))

    debian = [Path(p).parent for p in glob("/usr/lib/postgresql/*/bin/initdb")]
    candidates += sorted(debian, key=version, reverse=True)
    return next((d for d in candidates if (d / "pg_ctl").exists()), None)


def server_user() -> str | None:
    """Who runs the server: None (this user) unless we are root, whom initdb refuses."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    """A PostgreSQL cluster in a temporary folder, on 127.0.0.1 at a free port.

    ``with PostgresCluster() as pg: url = pg.create_database("db")``; leaving the block stops the
    server and deletes the folder. ``settings`` are extra server settings (``{"fsync": "off"}``).
    """

    def __init__(
        self, bin_dir: Path | None = None, settings: Mapping[str, str] | None = None
    ) -> None:
        found = bin_dir or find_bin_dir()
        if found is None:
            raise FileNotFoundError(INSTALL_HINT)
        self.bin_dir = found
        self.settings = dict(settings or {})
        self.user = server_user()
        self.root: Path | None = None
        self.port = 0

    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "the cluster is not started"
        return self.root / "data"

    def start(self) -> None:
        # /tmp rather than pytest's tmp_path: pytest's folders are 0700 for root, which the
        # server's user could not enter.
        self.root = Path(tempfile.mkdtemp(prefix="study-postgres-"))
        (self.root / "socket").mkdir()
        if self.user is not None:
            shutil.chown(self.root, self.user)
            shutil.chown(self.root / "socket", self.user)
        try:
            self._server(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
            for attempt in range(3):  # another process may take the free port first
                try:
                    self._start_server(free_port())
                    break
                except RuntimeError:
                    if attempt == 2:
                        raise
        except BaseException:
            self.stop()
            raise

    def _start_server(self, port: int) -> None:
        self.port = port
        options = {
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": str(self.root / "socket"),
            **self.settings,
        }
        self._server(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            " ".join(f"-c {k}={shlex.quote(v)}" for k, v in options.items()),
            "start",
        )

    def stop(self) -> None:
        """Stop the server (if it runs) and delete its folder."""
        if self.root is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            self._server("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres")
        try:
            con.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with con.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            con.close()
        return self.url(name)

    def log_tail(self, lines: int = 30) -> str:
        log = self.root / "server.log" if self.root else None
        if log is None or not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def _server(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if self.user is not None:
            runuser = shutil.which("runuser")
            if runuser:
                command = [runuser, "-u", self.user, "--", *command]
            else:
                command = ["su", self.user, "-s", "/bin/sh", "-c", shlex.join(command)]
        r = subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, timeout=120, check=False
        )
        if r.returncode != 0:
            raise RuntimeError(
                f"{program} failed (exit {r.returncode}): {r.stderr.strip() or r.stdout.strip()}"
                f"\n{self.log_tail()}"
            )

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
