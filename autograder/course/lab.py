"""JupyterLab for the course, as `make lab` starts it (the browser test starts it the same way).

    python -m autograder.course.lab [--edition zh_CN] [more jupyter lab options]

JupyterLab runs from the top of the course, on the whole course, and opens the first notebook of
the edition (English, ``notebooks/convnet/``, or another language's, ``notebooks/<language>/convnet/``):
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
from mnistcnn.i18n import SOURCE_LANGUAGE, check_language

ROOT = Path(__file__).resolve().parents[2]


def prepare(course: Path = ROOT) -> None:
    """What the formgrader needs before it starts: the folder of the gradebook (grading/gradebook.db);
    without it every formgrader page fails with a database error."""
    (Path(course) / "grading").mkdir(exist_ok=True)


def first_notebook(edition: str = SOURCE_LANGUAGE) -> str:
    """The first notebook of an edition, relative to the course's top."""
    check_language(edition)
    return f"notebooks/{FIRST_NOTEBOOK}" if edition == SOURCE_LANGUAGE else f"notebooks/{edition}/{FIRST_NOTEBOOK}"


def command(course: Path = ROOT, *options: str, edition: str = SOURCE_LANGUAGE) -> list[str]:
    """The `jupyter lab` command line for the course at ``course`` (run it with cwd=course)."""
    return [
        str(Path(sys.executable).parent / "jupyter"), "lab",
        f"--ServerApp.root_dir={Path(course).resolve()}",
        f"--ServerApp.default_url=/lab/tree/{first_notebook(edition)}",
        *options,
    ]


def split_edition(args: list[str]) -> tuple[str, list[str]]:
    """``--edition X`` (or ``--edition=X``) taken out of the command line; the rest goes to JupyterLab."""
    edition, rest, it = SOURCE_LANGUAGE, [], iter(args)
    for arg in it:
        if arg == "--edition":
            edition = next(it, SOURCE_LANGUAGE)
        elif arg.startswith("--edition="):
            edition = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return edition or SOURCE_LANGUAGE, rest


def main(argv: list[str] | None = None) -> None:
    prepare(ROOT)
    edition, options = split_edition(sys.argv[1:] if argv is None else argv)
    try:
        cmd = command(ROOT, *options, edition=edition)
    except ValueError as exc:
        sys.exit(f"make lab: {exc}")
    os.chdir(ROOT)
    use_tool_path()  # nbgrader runs `alembic` from PATH to set up the gradebook
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
