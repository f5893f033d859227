"""`mnistcnn-grade --db postgresql://...`: the course's gradebook in a real PostgreSQL server.

Slow: grades one submission (no training). The server is Debian's PostgreSQL (`.ci/run` installs
the `postgresql` package), started by the test in a temporary folder on a free loopback port.
"""

import glob
import io
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from fixtures import examples
from nbgrader.api import Gradebook

from autograder.course import release
from autograder.grading import gradebook, run

pytestmark = pytest.mark.slow


def _as_server_user(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: as root, run it as Debian's `postgres` user.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture
def postgres_url():
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.fail("no PostgreSQL server: install Debian's `postgresql` package (.ci/run does)")
    bindir = os.path.dirname(bins[-1])
    # Not under pytest's tmp_path: as root that is private to root, and the server runs as `postgres`.
    tmp_path = Path(tempfile.mkdtemp(prefix="mnistcnn-pg-"))
    data, sock = tmp_path / "pgdata", tmp_path / "pgsock"
    data.mkdir()
    sock.mkdir()
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (tmp_path, data, sock):
            os.chown(path, user.pw_uid, user.pw_gid)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = subprocess.run(_as_server_user([f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres"]),
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1"
    run = subprocess.run(_as_server_user([f"{bindir}/pg_ctl", "-D", str(data), "-o", opts, "-w", "-l",
                                          str(tmp_path / "pg.log"), "start"]), capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_server_user([f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_grades_go_into_a_postgresql_gradebook(postgres_url, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(examples.EXAMPLES / "cyd", src / "cyd")
    ws = gradebook.Workspace(tmp_path / "ws", postgres_url)
    summary = run.grade_class(src, ws, workers=1, threads=2, out=io.StringIO())
    assert summary["errors"] == {}
    assert not (tmp_path / "ws" / "gradebook.db").exists()
    with Gradebook(postgres_url) as gb:
        sub = gb.find_submission(release.ASSIGNMENT, "cyd")
        assert sub.score == 13 and sub.max_score == 32
    assert "cyd" in (tmp_path / "ws" / "grades.csv").read_text()
