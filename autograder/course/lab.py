"""JupyterLab for the course, as `make lab` starts it (the browser test starts it the same way).

    python -m autograder.course.lab [more jupyter lab options]

JupyterLab runs from the top of the course, on the whole course, and opens the first notebook:
nbgrader's Validate button and formgrader read the course's ``nbgrader_config.py`` from the
directory the server was started in, and the formgrader only manages a course that lies inside
the server's root directory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from autograder.course.release import use_tool_path
from mnistcnn.constants import FIRST_NOTEBOOK

ROOT = Path(__file__).resolve().parents[2]


def prepare(course: Path = ROOT) -> None:
    """What the formgrader needs before it starts: the folder of the gradebook (grading/gradebook.db);
    without it every formgrader page fails with a database error."""
    (Path(course) / "grading").mkdir(exist_ok=True)


def command(course: Path = ROOT, *options: str) -> list[str]:
    """The `jupyter lab` command line for the course at ``course`` (run it with cwd=course)."""
    return [
        str(Path(sys.executable).parent / "jupyter"), "lab",
        f"--ServerApp.root_dir={Path(course).resolve()}",
        f"--ServerApp.default_url=/lab/tree/notebooks/{FIRST_NOTEBOOK}",
        *options,
    ]


def main(argv: list[str] | None = None) -> None:
    prepare(ROOT)
    cmd = command(ROOT, *(sys.argv[1:] if argv is None else argv))
    os.chdir(ROOT)
    use_tool_path()  # nbgrader runs `alembic` from PATH to set up the gradebook
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
