"""What ``run`` prints and imports: its commands come from study.commands, not the server."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["study.run.runner", "study.commands"])
def test_run_and_its_printed_commands_do_not_import_the_dashboard_server(module):
    """The server pulls in a web framework; a worker that only runs trials needs none of it."""
    code = f"import sys, {module}; print('study.dashboard.server' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False", r.stderr
