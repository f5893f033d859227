"""The students' kit: what the instructor hands out, as a folder and a zip (`make kit`).

    python -m autograder.course.kit [--out dist]     # dist/convnet-kit/ and dist/convnet-kit.zip
    python -m autograder.course.kit --language zh_CN # dist/convnet-kit-zh_CN/ and its zip: the Chinese kit

It holds the student notebooks (``convnet/``, and the same as handed out in ``originals/convnet/``;
in another language's kit, that edition's notebooks under the same names, so that ``course.py``
opens, checks and hands in the same paths, the ``course`` catalog of its checks' messages, and
``kit/README.<lang>.md`` as its README),
the package they import (``mnistcnn/``), the pinned requirements and an ``environment.yml``
generated from pyproject.toml, and the kit's own files from ``kit/`` (``course.py``, its README,
Makefile and nbgrader configuration). Nothing of solutions/, the grader, the red-team corpus or the
example submissions goes in.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder.course import release
from mnistcnn.i18n import LANGUAGES, SOURCE_LANGUAGE, catalog_path, check_language

ROOT = release.ROOT
TEMPLATE = ROOT / "kit"
NAME = f"{release.ASSIGNMENT}-kit"
#: The catalogs a language's kit holds: the messages of the checks, hints and figures its notebooks show.
KIT_DOMAINS = ("course",)
KIT_FILES = ["README.md", "course.py", "Makefile", "nbgrader_config.py"]
#: Dependencies of the grader alone (its Dask cluster, a PostgreSQL gradebook): not for students.
GRADER_ONLY = {"distributed", "psycopg2-binary"}


@dataclass
class Kit:
    """A built kit: its folder, its zip, and the files in it (relative, with '/')."""

    folder: Path
    archive: Path
    files: list[str]


def pinned_requirements() -> list[str]:
    """The course's dependencies as pinned in pyproject.toml, without the dev extras and the grader's own."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser, as vendored by pip
        from pip._vendor import tomli as tomllib
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [req for req in deps if re.split(r"[=<>!~;\[ ]", req, maxsplit=1)[0] not in GRADER_ONLY]


def requirements_txt() -> str:
    return ("# The packages of the course, pinned as in the course's pyproject.toml: its results were\n"
            "# measured with exactly these versions. `python course.py setup` installs them.\n"
            + "".join(f"{req}\n" for req in pinned_requirements()))


def environment_yml() -> str:
    python = re.search(r"^\s*- (python=\S+)", (ROOT / "environment.yml").read_text(), re.M)[1]
    pins = "".join(f"      - {req}\n" for req in pinned_requirements())
    return ("# The conda route: conda env create -f environment.yml && conda activate mnistcnn,\n"
            "# then python course.py setup --no-venv (the pins are those of requirements.txt).\n"
            f"name: mnistcnn\nchannels:\n  - conda-forge\ndependencies:\n  - {python}\n  - pip\n  - pip:\n{pins}")


def kit_name(lang: str = SOURCE_LANGUAGE) -> str:
    """convnet-kit, or convnet-kit-<lang> for another language."""
    return NAME if lang == SOURCE_LANGUAGE else f"{NAME}-{lang}"


def fill(folder: Path, lang: str = SOURCE_LANGUAGE) -> None:
    """Write the kit's files, its notebooks in ``lang``, into the empty ``folder``."""
    for name in KIT_FILES:
        shutil.copy2(TEMPLATE / name, folder / name)
    readme = TEMPLATE / f"README.{lang}.md"
    if lang != SOURCE_LANGUAGE and readme.exists():
        shutil.copy2(readme, folder / "README.md")
    (folder / "mnistcnn").mkdir()
    for module in sorted((ROOT / "mnistcnn").glob("*.py")):
        shutil.copy2(module, folder / "mnistcnn" / module.name)
    for domain in KIT_DOMAINS if lang != SOURCE_LANGUAGE else ():
        source = catalog_path(lang, domain)
        if source.exists():
            target = folder / source.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    for target in (folder / release.ASSIGNMENT, folder / "originals" / release.ASSIGNMENT):
        target.mkdir(parents=True)
        for nb in sorted(release.release_folder(lang).glob("*.ipynb")):
            shutil.copy2(nb, target / nb.name)
    (folder / "requirements.txt").write_text(requirements_txt(), newline="\n")
    (folder / "environment.yml").write_text(environment_yml(), newline="\n")


def build(out: Path = ROOT / "dist", lang: str = SOURCE_LANGUAGE) -> Kit:
    """``out/convnet-kit/`` and ``out/convnet-kit.zip`` (both replaced); ``-<lang>`` in another language."""
    out = Path(out).resolve()
    name = kit_name(check_language(lang))
    folder, archive = out / name, out / f"{name}.zip"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    fill(folder, lang)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in files:
            zf.write(folder / rel, f"{name}/{rel}")
    return Kit(folder, archive, files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "dist", help="where to write the kit (default: dist/)")
    ap.add_argument("--language", default=SOURCE_LANGUAGE, choices=list(LANGUAGES),
                    help="the language of the kit's notebooks (default: English)")
    args = ap.parse_args(argv)
    kit = build(args.out, args.language)
    print(f"wrote {kit.folder} ({len(kit.files)} files) and {kit.archive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
