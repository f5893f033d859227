"""The course's Jupyter kernel and JupyterLab settings, installed into this Python's environment.

    python -m mnistcnn.kernelspec [--pythonpath DIR]

The named kernel runs with the course's TensorFlow environment (:data:`mnistcnn.TF_ENV`), and
``PYTHONPATH=DIR`` where the course's package is a folder rather than installed (the students'
kit). JupyterLab goes without nbgrader's Assignment List and Courses (they need an exchange folder,
which the course does not use) and without the news pop-up. `make setup` and the kit's
`python course.py setup` both run this. Only Python's standard library is used here.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from mnistcnn import TF_ENV
from mnistcnn.constants import KERNEL_DISPLAY_NAME, KERNEL_NAME

LAB_PLUGINS_OFF = ["@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:course-list",
                   "@jupyterlab/apputils-extension:announcements"]


def kernel_env(pythonpath: Path | None = None) -> dict[str, str]:
    """The environment of the kernel: the course's TensorFlow settings, and PYTHONPATH if given."""
    return {**TF_ENV, **({"PYTHONPATH": str(pythonpath)} if pythonpath else {})}


def commands(pythonpath: Path | None = None) -> list[list[str]]:
    """The kernel's installation, then the JupyterLab plugins turned off, both for this environment."""
    env = [arg for key, value in kernel_env(pythonpath).items() for arg in ("--env", key, value)]
    return [[sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL_NAME,
             "--display-name", KERNEL_DISPLAY_NAME, *env],
            [sys.executable, "-m", "jupyter", "labextension", "disable", "--level=sys_prefix", *LAB_PLUGINS_OFF]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pythonpath", type=Path, help="the folder holding the course's package, for the kernel")
    install, plugins = commands(ap.parse_args(argv).pythonpath)
    subprocess.run(install, check=True)
    subprocess.run(plugins, check=True, stdout=subprocess.DEVNULL)  # it lists every plugin it touched
    return 0


if __name__ == "__main__":
    sys.exit(main())
