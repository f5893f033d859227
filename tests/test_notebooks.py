"""The notebooks as files: clean, well-formed nbgrader notebooks, and the release up to date."""

import ast
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course import release
from mnistcnn import constants

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted(release.SOLUTIONS.glob("*.ipynb"))
RELEASED = sorted(release.NOTEBOOKS.glob("*.ipynb"))
RELEASED_ZH = sorted(release.release_folder("zh_CN").glob("*.ipynb"))


def nbg(cell):
    return cell.metadata.get("nbgrader", {})


def test_there_are_three_lessons_in_both_versions():
    assert [p.name for p in SOLUTIONS] == ["01_data.ipynb", "02_convnet.ipynb", "03_training.ipynb"]
    assert [p.name for p in RELEASED] == [p.name for p in SOLUTIONS] == [p.name for p in RELEASED_ZH]
    assert [f"{name}.ipynb" for name in constants.NOTEBOOKS] == [p.name for p in SOLUTIONS]


@pytest.mark.parametrize("path", SOLUTIONS + RELEASED + RELEASED_ZH,
                         ids=lambda p: p.relative_to(ROOT).parent.parent.as_posix() + "/" + p.name)
def test_committed_without_outputs_and_with_the_course_kernel(path):
    """The course's kernel, or for another language's edition, that language's."""
    from mnistcnn.i18n import notebook_language

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    lang = notebook_language(nb)
    assert lang == ("zh_CN" if path in RELEASED_ZH else "en")
    assert nb.metadata.kernelspec.name == constants.LANGUAGE_KERNELS.get(lang, (constants.KERNEL_NAME,))[0]
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_grade_cells_follow_the_house_style(path):
    nb = nbformat.read(path, as_version=4)
    ids = [nbg(c)["grade_id"] for c in nb.cells if nbg(c)]
    assert len(ids) == len(set(ids)), "duplicate grade_id"
    tests = [c for c in nb.cells if nbg(c).get("grade")]
    assert tests, "no graded test cell"
    for cell in tests:
        gid = nbg(cell)["grade_id"]
        assert gid.startswith("test_") and len(gid) > 8, gid
        assert nbg(cell)["points"] > 0 and nbg(cell)["locked"]
        doc = ast.get_docstring(ast.parse(re.sub(r"^###.*$", "", cell.source, flags=re.M)))
        assert doc and "\n" not in doc.strip(), f"{gid}: one docstring line saying what it checks"
    for cell in nb.cells:
        if nbg(cell).get("solution"):
            lines = cell.source.splitlines()
            markers = [ln for ln in lines if "### BEGIN SOLUTION" in ln]
            assert len(markers) == 1 and markers[0].startswith("    "), \
                f"{nbg(cell)['grade_id']}: the solution markers sit inside a function body"
            assert cell.source.lstrip().startswith("def "), nbg(cell)["grade_id"]


def test_points_add_up_and_a_hidden_test_grades_accuracy():
    total, hidden = 0, []
    for path in SOLUTIONS:
        for cell in nbformat.read(path, as_version=4).cells:
            if nbg(cell).get("grade"):
                total += nbg(cell)["points"]
                if "### BEGIN HIDDEN TESTS" in cell.source:
                    hidden.append(nbg(cell)["grade_id"])
    assert total == 32, f"the course is worth 32 points (6 + 13 + 13), the notebooks give {total}"
    assert "test_accuracy_99" in hidden


def test_student_version_has_no_solutions_and_no_hidden_tests():
    for path in RELEASED + RELEASED_ZH:
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
        assert "check_test_accuracy" not in text, "the grader's accuracy test must stay hidden"
        nb = nbformat.read(path, as_version=4)
        stubs = [c for c in nb.cells if nbg(c).get("solution")]
        assert stubs and all("raise NotImplementedError()" in c.source for c in stubs)


def test_release_is_up_to_date_with_solutions(tmp_path):
    """notebooks/ is exactly what nbgrader generate_assignment makes from solutions/ now."""
    generated = release.generate(tmp_path)
    assert release.differences(generated) == [], "run `make notebooks` and commit notebooks/"


def test_release_check_detects_a_stale_notebook(tmp_path):
    generated = release.generate(tmp_path / "fresh")
    stale = tmp_path / "stale"
    stale.mkdir()
    for nb in generated.iterdir():
        (stale / nb.name).write_bytes(nb.read_bytes())
    path = stale / "02_convnet.ipynb"
    path.write_text(path.read_text().replace("Exercise 1", "Exercise One"))
    assert release.differences(generated, stale) == ["differs: 02_convnet.ipynb"]


def test_course_kernel_is_installed_with_the_course_environment():
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("mnistcnn")
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve()
    assert spec.env["TF_ENABLE_ONEDNN_OPTS"] == "1" and spec.env["TF_CPP_MIN_LOG_LEVEL"] == "3"


def test_environment_yml_pins_what_pyproject_pins():
    # Every quoted requirement with an exact pin in pyproject.toml (tomllib is Python 3.11+ only).
    pyproject = (ROOT / "pyproject.toml").read_text()
    pins = set(re.findall(r'^\s+"([A-Za-z0-9_.-]+==[^"]+)",', pyproject, flags=re.M))
    assert len(pins) >= 12
    text = (ROOT / "environment.yml").read_text()
    listed = {ln.strip()[2:] for ln in text.splitlines() if re.match(r"^\s+- \S+==", ln)}
    assert listed == pins
    assert re.search(r"python=3\.1[0-9]", text)


def test_nbgrader_config_sets_the_execute_timeout():
    """nbgrader's Execute has its own timeout trait: ExecutePreprocessor.timeout alone is not enough."""
    from traitlets.config.loader import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert cfg.Execute.timeout >= 600
    assert cfg.CourseDirectory.source_directory == "solutions"
    assert cfg.CourseDirectory.release_directory == "notebooks"


def test_ruff_is_clean():
    import subprocess

    proc = subprocess.run([str(Path(sys.executable).parent / "ruff"), "check", str(ROOT)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_notebooks_parse_as_python():
    for path in SOLUTIONS + RELEASED + RELEASED_ZH:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                ast.parse("".join(cell["source"]))
