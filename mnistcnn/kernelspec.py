"""The course's Jupyter kernel and JupyterLab settings, installed into this Python's environment.

    python -m mnistcnn.kernelspec [--pythonpath DIR]

The named kernels (one per language) run with the course's TensorFlow environment (:data:`mnistcnn.TF_ENV`), and
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
from mnistcnn.constants import KERNEL_DISPLAY_NAME, KERNEL_NAME, LANGUAGE_KERNELS

LAB_PLUGINS_OFF = ["@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:course-list",
                   "@jupyterlab/apputils-extension:announcements"]


def kernel_env(pythonpath: Path | None = None, language: str | None = None) -> dict[str, str]:
    """The environment of the kernel: the course's TensorFlow settings, PYTHONPATH if given, and
    the language of the checks' messages for a language other than English."""
    return {**TF_ENV, **({"PYTHONPATH": str(pythonpath)} if pythonpath else {}),
            **({"MNISTCNN_LANGUAGE": language} if language else {})}


def _install(name: str, display_name: str, env: dict[str, str]) -> list[str]:
    args = [arg for key, value in env.items() for arg in ("--env", key, value)]
    return [sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", name,
            "--display-name", display_name, *args]


def commands(pythonpath: Path | None = None) -> list[list[str]]:
    """The kernels' installations (English, then one per other language), then the JupyterLab
    plugins turned off, all for this environment."""
    installs = [_install(KERNEL_NAME, KERNEL_DISPLAY_NAME, kernel_env(pythonpath))]
    installs += [_install(name, display, kernel_env(pythonpath, lang))
                 for lang, (name, display) in LANGUAGE_KERNELS.items()]
    return [*installs,
            [sys.executable, "-m", "jupyter", "labextension", "disable", "--level=sys_prefix", *LAB_PLUGINS_OFF]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pythonpath", type=Path, help="the folder holding the course's package, for the kernel")
    *installs, plugins = commands(ap.parse_args(argv).pythonpath)
    for install in installs:
        subprocess.run(install, check=True)
    subprocess.run(plugins, check=True, stdout=subprocess.DEVNULL)  # it lists every plugin it touched
    return 0


if __name__ == "__main__":
    sys.exit(main())
