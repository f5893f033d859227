"""The students' kit (autograder/kit.py): what is in it, what is not, and that it works on its own.

The fast tests build the kit and search it; the slow ones set a fresh copy of it up with its own
`course.py setup` (a real .venv, pip's cache) and run its `check`, `lab` and `handin` commands.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.course import kit, release
from autograder.grading import intake
from autograder.grading.run import notebook_names

REGION = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")
FORBIDDEN = ("autograder/", "solutions/", "examples/", "tests/", "grading/", "docs/", "tools/", "redteam",
             "judge", "reference", "gradebook")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return kit.build(tmp_path_factory.mktemp("dist"))


def nontrivial(line: str) -> bool:
    """A line that says something: three words or numbers at least (not `return model`, `])`, `pass`)."""
    return len(re.findall(r"\w+", line)) >= 3


def secret_lines(lang: str = "en") -> set[str]:
    """Every line of a solution or hidden-test region of solutions/ (translated into ``lang``) that
    is not also public in it."""
    from autograder.course.translate import translate_notebook

    secret, public = set(), set()
    for path in sorted(release.SOLUTIONS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in (nb if lang == "en" else translate_notebook(nb, lang)).cells:
            inside = False
            for line in cell.source.splitlines():
                if REGION.match(line):
                    inside = line.split()[1] == "BEGIN"
                    continue
                (secret if inside else public).add(line.strip())
    return {line for line in secret - public if nontrivial(line)}


def text_lines(name: str, data: bytes) -> set[str]:
    """The stripped lines of a kit file; of a notebook, of every string in it (sources, outputs)."""
    text = data.decode("utf-8", "replace")
    if name.endswith(".ipynb"):
        strings, todo = [], [json.loads(text)]
        while todo:
            item = todo.pop()
            if isinstance(item, str):
                strings.append(item)
            elif isinstance(item, dict | list):
                todo += item.values() if isinstance(item, dict) else item
        text = "".join(s if s.endswith("\n") else s + "\n" for s in strings)
    return {line.strip() for line in text.splitlines()}


def test_the_secret_lines_are_found():
    secret = secret_lines()
    assert 'return images.reshape((len(images), 28, 28, 1)).astype("float32") / 255' in secret
    assert "checks.check_test_accuracy(checks.trained(globals().get(\"model\")))" in secret
    assert 'layers.Dense(10, activation="softmax"),' not in secret  # also in the lesson's own code
    assert len(secret) > 30


def test_no_line_of_a_solution_or_hidden_test_is_in_the_kit(built):
    secret = secret_lines()
    for rel in built.files:
        leaked = secret & text_lines(rel, (built.folder / rel).read_bytes())
        assert not leaked, f"{rel} holds lines of solutions/: {sorted(leaked)[:3]}"
    with zipfile.ZipFile(built.archive) as zf:
        for name in zf.namelist():
            assert not secret & text_lines(name, zf.read(name)), f"{name} in the zip holds lines of solutions/"


def test_the_search_finds_a_leak(built, tmp_path):
    leaky = tmp_path / "02_convnet.ipynb"
    shutil.copy(release.SOLUTIONS / "02_convnet.ipynb", leaky)
    assert secret_lines() & text_lines(leaky.name, leaky.read_bytes())


def test_the_kit_holds_what_students_need_and_no_grader_material(built):
    for rel in ["README.md", "course.py", "Makefile", "requirements.txt", "environment.yml",
                "nbgrader_config.py", "mnistcnn/__init__.py", "mnistcnn/checks.py", "mnistcnn/handin.py",
                *(f"{folder}convnet/{nb}.ipynb" for folder in ("", "originals/") for nb in notebook_names())]:
        assert rel in built.files
    for rel in built.files:
        assert not any(word in rel for word in FORBIDDEN), rel
        assert "__pycache__" not in rel and not rel.endswith(".npz")
        data = (built.folder / rel).read_bytes()
        assert b"HIDDEN TESTS" not in data and b"BEGIN SOLUTION" not in data, rel
    with zipfile.ZipFile(built.archive) as zf:
        assert sorted(zf.namelist()) == [f"convnet-kit/{rel}" for rel in built.files]
    for nb in notebook_names():
        released = (release.NOTEBOOKS / f"{nb}.ipynb").read_bytes()
        assert (built.folder / "convnet" / f"{nb}.ipynb").read_bytes() == released


def test_requirements_are_the_pins_of_pyproject(built):
    reqs = [line for line in (built.folder / "requirements.txt").read_text().splitlines()
            if line and not line.startswith("#")]
    pyproject = (release.ROOT / "pyproject.toml").read_text()
    assert reqs and all(f'"{req}"' in pyproject for req in reqs)
    assert "tensorflow-cpu==2.21.0; sys_platform == 'linux'" in reqs and "nbgrader==0.9.6" in reqs
    assert not any(req.startswith(("pytest", "ruff", "playwright", "distributed", "psycopg2")) for req in reqs)
    env = (built.folder / "environment.yml").read_text()
    assert [line.strip()[2:] for line in env.splitlines() if line.startswith("      - ")] == reqs
    assert "-e ." not in env


def test_the_kernel_is_the_courses():
    """`make setup` and the kit's `course.py setup` install the kernel with the one module, and that
    module installs the course's kernel: its name, display name and TensorFlow environment."""
    import inspect

    from mnistcnn import TF_ENV, constants, kernelspec

    makefile = (release.ROOT / "Makefile").read_text()
    assert "$(BIN)/python -m mnistcnn.kernelspec\n" in makefile and "ipykernel install" not in makefile
    course = load_course(kit.TEMPLATE)
    assert '"-m", "mnistcnn.kernelspec", "--pythonpath", KIT' in inspect.getsource(course.install_kernel)
    install, install_zh, plugins = kernelspec.commands(Path("/kit"))
    assert install[install.index("--name") + 1] == constants.KERNEL_NAME == "mnistcnn"
    assert install_zh[install_zh.index("--name") + 1] == "mnistcnn-zh_cn"
    env_zh = dict(zip(install_zh[install_zh.index("--env") + 1::3], install_zh[install_zh.index("--env") + 2::3]))
    assert env_zh == {**TF_ENV, "PYTHONPATH": "/kit", "MNISTCNN_LANGUAGE": "zh_CN"}
    assert install[install.index("--display-name") + 1] == "Python 3 (Convnets on MNIST)"
    env = dict(zip(install[install.index("--env") + 1::3], install[install.index("--env") + 2::3]))
    assert env == {**TF_ENV, "PYTHONPATH": "/kit"} and kernelspec.kernel_env() == TF_ENV
    assert plugins[-3:] == kernelspec.LAB_PLUGINS_OFF and "@jupyter/nbgrader:course-list" in plugins


@pytest.mark.parametrize("which", ["built", "built_zh"])
def test_the_readme_gives_the_commands_for_each_system(which, request):
    built = request.getfixturevalue(which)
    readme = (built.folder / "README.md").read_text()
    assert ("学生资料包" in readme) == (which == "built_zh")
    course = load_course(built.folder)
    for command in course.COMMANDS:
        assert f"python3 course.py {command}" in readme and f"py course.py {command}" in readme, command
    for line in ("make lab", "make check", "make handin STUDENT=", "conda env create -f environment.yml",
                 "conda activate mnistcnn", "python course.py setup --no-venv", "originals/convnet/"):
        assert line in readme, line
    makefile = (built.folder / "Makefile").read_text()
    for command in course.COMMANDS:
        assert f"$(PYTHON) course.py {command}" in makefile


def load_course(folder: Path):
    """The kit's course.py as a module (it is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("course", folder / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built_zh(tmp_path_factory):
    return kit.build(tmp_path_factory.mktemp("dist"), "zh_CN")


def test_the_chinese_kit_holds_the_chinese_notebooks_where_the_english_kit_has_its_own(built, built_zh):
    from mnistcnn.i18n import catalog_path

    assert built_zh.folder.name == "convnet-kit-zh_CN" and built_zh.archive.name == "convnet-kit-zh_CN.zip"
    catalogs = [p.relative_to(release.ROOT).as_posix() for p in [catalog_path("zh_CN", "course")] if p.exists()]
    assert built_zh.files == sorted(built.files + catalogs)
    for folder in ("convnet", "originals/convnet"):
        for nb in notebook_names():
            assert (built_zh.folder / folder / f"{nb}.ipynb").read_bytes() == \
                (release.release_folder("zh_CN") / f"{nb}.ipynb").read_bytes()
    with zipfile.ZipFile(built_zh.archive) as zf:
        assert sorted(zf.namelist()) == [f"convnet-kit-zh_CN/{rel}" for rel in built_zh.files]
    # The English kit is as it was: its notebooks are the English ones.
    english = built.folder / "convnet" / "01_data.ipynb"
    assert english.read_bytes() == (release.NOTEBOOKS / "01_data.ipynb").read_bytes()


def test_no_line_of_a_solution_or_hidden_test_is_in_the_chinese_kit(built_zh):
    secret = secret_lines() | secret_lines("zh_CN")
    assert "return -(-size // stride)  # 用整数运算求 ceil(size / stride)" in secret
    for rel in built_zh.files:
        data = (built_zh.folder / rel).read_bytes()
        assert not secret & text_lines(rel, data), rel
        assert b"HIDDEN TESTS" not in data and b"BEGIN SOLUTION" not in data, rel


def test_the_chinese_kit_opens_its_first_notebook_in_the_chinese_kernel(built_zh):
    from mnistcnn.constants import LANGUAGE_KERNELS
    from mnistcnn.i18n import notebook_language

    course = load_course(built_zh.folder)
    first = nbformat.read(built_zh.folder / course.FIRST_NOTEBOOK, as_version=4)
    assert notebook_language(first) == "zh_CN" and first.metadata.kernelspec.name == LANGUAGE_KERNELS["zh_CN"][0]
    assert first.cells[0].source.startswith("# 1 · 数据")


def handin_in_a_copy(kit_folder: Path, tmp_path: Path, student: str):
    """A copy of the kit with this environment's Python as the course's, and a function that runs
    `python course.py handin --student <student>` in it."""
    folder = tmp_path / "kit"
    shutil.copytree(kit_folder, folder)
    (folder / ".course-python").write_text(sys.executable)
    run = [sys.executable, "course.py", "handin", "--student", student]
    return folder, lambda: subprocess.run(run, cwd=folder, capture_output=True, text=True)


def test_the_chinese_kit_hands_in_solved_notebooks(built_zh, tmp_path):
    folder, handin = handin_in_a_copy(built_zh.folder, tmp_path, "mei")
    proc = handin()
    assert proc.returncode == 1 and proc.stdout.count("every answer cell is as handed out") == 3, proc.stdout
    release.solved_copy(folder / "convnet", "zh_CN")
    proc = handin()
    assert proc.returncode == 0 and f"Wrote {folder / 'convnet-mei.zip'}" in proc.stdout, proc.stdout + proc.stderr


def test_course_py_finds_the_venvs_python_on_every_system(built, monkeypatch, capsys):
    course = load_course(built.folder)
    assert course.venv_python() == built.folder / ".venv" / "bin" / "python"
    monkeypatch.setattr(course.os, "name", "nt")
    assert course.venv_python() == built.folder / ".venv" / "Scripts" / "python.exe"
    assert course.main(["nonsense"]) == 2 and "course.py handin --student ID" in capsys.readouterr().out


def test_course_py_handin_refuses_blank_notebooks_and_zips_solved_ones(built, tmp_path):
    """`python course.py handin` in a copy of the kit, with this environment's Python as the course's."""
    folder, handin = handin_in_a_copy(built.folder, tmp_path, "ada")
    proc = handin()
    assert proc.returncode == 1 and proc.stdout.count("every answer cell is as handed out") == 3, proc.stdout
    assert not (folder / "convnet-ada.zip").exists()
    release.solved_copy(folder / "convnet")
    proc = handin()
    assert proc.returncode == 0 and f"Wrote {folder / 'convnet-ada.zip'}" in proc.stdout, proc.stdout + proc.stderr


# --- set up from a fresh copy, with the kit's own commands ---------------------------------------

def course_cmd(folder: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "MNIST_PATH": str(release.ROOT / "data" / "mnist.npz")}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(release.ROOT)))
    python = shutil.which("python3", path=env["PATH"]) or sys.executable
    return subprocess.run([python, "course.py", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def set_up(built, tmp_path_factory):
    """A fresh copy of the kit, unpacked from its zip, set up with `python3 course.py setup`."""
    where = tmp_path_factory.mktemp("student")
    with zipfile.ZipFile(built.archive) as zf:
        zf.extractall(where)
    folder = where / kit.NAME
    start = time.perf_counter()
    proc = course_cmd(folder, "setup")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    print(f"course.py setup: {time.perf_counter() - start:.0f} s")
    return folder


def validate_sections(output: str) -> dict[str, list[str]]:
    """`course.py check`'s output: notebook name -> the error of every failed cell."""
    sections = re.split(r"^=== (\S+\.ipynb): ", output, flags=re.M)[1:]
    return {name: text.split("The following cell failed:")[1:] for name, text in zip(sections[::2], sections[1::2])}


@pytest.mark.slow
def test_setup_makes_the_course_environment(set_up):
    python = set_up / (set_up / ".course-python").read_text().strip()
    assert python == set_up / ".venv" / "bin" / "python" and python.exists()
    spec = json.loads((set_up / ".venv" / "share" / "jupyter" / "kernels" / "mnistcnn" / "kernel.json").read_text())
    assert spec["display_name"] == "Python 3 (Convnets on MNIST)" and spec["env"]["PYTHONPATH"] == str(set_up)
    proc = subprocess.run([str(python), "-c", "import nbgrader, keras; print(keras.__version__)"],
                          capture_output=True, text=True, cwd=set_up)
    assert proc.stdout.strip() == "3.15.1"


@pytest.mark.slow
def test_check_fails_cleanly_on_the_blank_notebooks(set_up):
    proc = course_cmd(set_up, "check")
    assert proc.returncode == 1, proc.stdout[-3000:]
    failed = validate_sections(proc.stdout)
    assert sorted(failed) == [f"{nb}.ipynb" for nb in notebook_names()]
    for name, errors in failed.items():
        assert len(errors) == len(release.graded_cells(release.NOTEBOOKS / name)), name
        for error in errors:
            assert "NotImplementedError" in error or "CheckFailed" in error, error[-800:]
    assert "fatal error" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_check_passes_on_solved_notebooks_and_they_hand_in(set_up, tmp_path):
    for nb in release.solved_copy(tmp_path / "solved").glob("*.ipynb"):
        shutil.copy(nb, set_up / "convnet" / nb.name)
    proc = course_cmd(set_up, "check", timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert proc.stdout.count("Success! Your notebook passes all the tests.") == len(notebook_names())
    proc = course_cmd(set_up, "handin", "--student", "ada")
    assert proc.returncode == 0 and "convnet-ada.zip" in proc.stdout, proc.stdout + proc.stderr
    found = intake.collect(set_up / "convnet-ada.zip", notebook_names(), tmp_path / "work")
    assert set(found.submissions) == {"ada"} and sorted(found.submissions["ada"]) == notebook_names()


def get(url: str, wait: float = 60) -> bytes:
    """The body at ``url``, once the server accepts connections (it prints its address a moment before)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return urllib.request.urlopen(url, timeout=30).read()
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.slow
def test_lab_serves_the_notebooks_with_the_courses_kernel(set_up):
    python = set_up / (set_up / ".course-python").read_text().strip()
    cmd = [str(python), "course.py", "lab", "--no-browser", "--port=18931", "--ServerApp.port_retries=20"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, cwd=set_up, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # its own process group: JupyterLab ends with it
    try:
        url = None
        for line in proc.stdout:
            if m := re.search(r"(http://127\.0\.0\.1:\d+)/lab\?token=(\w+)", line):
                url, token = m[1], m[2]
                break
        assert url, "JupyterLab did not start"
        specs = json.loads(get(f"{url}/api/kernelspecs?token={token}"))
        assert "mnistcnn" in specs["kernelspecs"]
        page = get(f"{url}/api/contents/convnet/01_data.ipynb?token={token}")
        assert json.loads(page)["content"]["metadata"]["kernelspec"]["name"] == "mnistcnn"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
