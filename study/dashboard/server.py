"""``python -m study dashboard``: optuna-dashboard on the study storage and its artifact folder.

The dashboard has no authentication and can edit and delete studies, so it listens on loopback
unless ``--host`` says otherwise. The storage is opened without heartbeats (the dashboard runs no
trials) and never created: a mistyped SQLite path is an error, not a new empty database.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import sys
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any, TextIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import optuna_dashboard
from optuna.artifacts import FileSystemArtifactStore
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from study.storage import DEFAULT_ARTIFACTS, default_storage_url, open_storage
from vitlab.errors import UserError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # Ctrl-C stops the server without waiting for open connections


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # one line per request is noise
        pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: reachable from elsewhere as far as we know
        return False


def check_storage_url(url: str) -> None:
    """A URL SQLAlchemy can parse, and for SQLite a database file that exists."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(
            f"storage {url!r} is not an SQLAlchemy URL (e.g. sqlite:///results/studies.db)"
        ) from None
    if parsed.get_backend_name() != "sqlite":
        return
    if parsed.database in (None, "", ":memory:"):
        raise UserError(f"storage {url!r} is an in-memory database: it holds no studies")
    if not Path(parsed.database).is_file():
        raise UserError(
            f"storage {url!r}: no such file {parsed.database} (run 'python -m study run' first, "
            "or pass --storage)"
        )


def open_dashboard(
    url: str | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    artifacts: Path = DEFAULT_ARTIFACTS,
) -> WSGIServer:
    """The dashboard's server, bound to ``host:port`` and ready to ``serve_forever``."""
    url = url or default_storage_url()
    check_storage_url(url)
    try:
        storage = open_storage(url, heartbeat=False)
        storage.get_all_studies()
    except UserError as e:  # SQLAlchemy's messages go on with the SQL and a link: keep line 1
        raise UserError(str(e).splitlines()[0]) from None
    except Exception as e:  # a server that went away after connecting
        first = (str(e).splitlines() or [""])[0]
        raise UserError(f"storage {url!r} cannot be read: {type(e).__name__}: {first}") from None
    # Resolved now: the files stay found if the working directory changes later.
    store = FileSystemArtifactStore(artifacts.resolve())
    app = optuna_dashboard.wsgi(storage, artifact_store=store)
    try:
        return make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise UserError(
                f"port {port} on {host} is already in use; pick another with --port"
            ) from None
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def serve_dashboard(
    url: str | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    artifacts: Path = DEFAULT_ARTIFACTS,
    out: TextIO = sys.stdout,
) -> None:
    """Serve until Ctrl-C, after saying where and to whom."""
    url = url or default_storage_url()
    server = open_dashboard(url, host=host, port=port, artifacts=artifacts)
    shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
    print(f"optuna-dashboard on {url} (artifacts in {artifacts})", file=out)
    print(f"open http://{shown}:{port}/dashboard  (Ctrl-C to stop)", file=out)
    if is_loopback(host):
        print(
            "only this machine can open it; from another one use an SSH tunnel "
            f"(ssh -L {port}:127.0.0.1:{port} THIS_HOST) or pass --host 0.0.0.0 deliberately "
            "(no authentication)",
            file=out,
        )
    else:
        print(
            f"warning: listening on {host}:{port} with no authentication: anyone who can reach "
            "this port can read, edit and delete the studies",
            file=sys.stderr,
        )
    if not artifacts.is_dir():
        print(
            f"note: no artifact folder {artifacts} (yet): the trials' curves.html files will be "
            "missing; pass the --artifacts that run used",
            file=out,
        )
    out.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("dashboard stopped", file=out)
    finally:
        server.server_close()
