"""The lessons in Simplified Chinese: the catalog (complete, no stale entry, placeholders kept), the
translation of a notebook (units, strictness, locked cells only), and notebooks/zh_CN/ as the same
assignment as notebooks/ in another language."""

import ast
import re
import shutil

import nbformat
import pytest
from babel.messages.pofile import read_po, write_po
from nbgrader.utils import is_grade, is_solution

from autograder.course import release, translate
from mnistcnn import constants, i18n

LANG = "zh_CN"
NAMES = [f"{name}.ipynb" for name in constants.NOTEBOOKS]
ZH = release.release_folder(LANG)
CATALOG = i18n.catalog_path(LANG, translate.DOMAIN)


def read(path):
    return nbformat.read(path, as_version=4)


def nbg(cell):
    return cell.metadata.get("nbgrader", {})


def load(path):
    with open(path, "rb") as f:
        return read_po(f, locale=LANG, domain=translate.DOMAIN)


def save(catalog, path):
    with open(path, "wb") as f:
        write_po(f, catalog, width=0)


# --- the catalog -----------------------------------------------------------------------------------

def test_the_catalog_translates_every_unit_and_nothing_else():
    assert translate.problems(LANG) == []
    units = {u.text for name in NAMES for u in translate.notebook_units(read(release.SOLUTIONS / name))}
    entries = {m.id for m in load(CATALOG) if m.id}
    assert units == entries and len(units) > 60
    assert translate.main(["check", LANG]) == 0


def test_the_check_lists_each_kind_of_problem(tmp_path):
    catalog = load(CATALOG)
    del catalog["## Loading MNIST"]
    catalog.add("## A section that is no longer in the lessons", string="## 已删除的一节")
    catalog["## Training"].string = ""
    catalog["## Looking at the data"].flags.add("fuzzy")
    catalog["**Next:** `03_training.ipynb` trains this network."].string = "**下一步：** 训练这个网络。"
    path = tmp_path / "lessons.po"
    save(catalog, path)
    found = translate.problems(LANG, path)
    assert "missing: '## Loading MNIST' (solutions/convnet/01_data.ipynb#loading_md)" in found
    assert "stale (no longer in solutions/): '## A section that is no longer in the lessons'" in found
    assert "empty: '## Training'" in found and "fuzzy: '## Looking at the data'" in found
    assert any(p.startswith("placeholder '`03_training.ipynb`' not kept") for p in found)
    assert len(found) == 5, found


def test_update_adds_new_units_removes_vanished_ones_and_keeps_translations(tmp_path):
    catalog = load(CATALOG)
    del catalog["## Loading MNIST"]
    catalog.add("## A section that is no longer in the lessons", string="## 已删除的一节")
    path = tmp_path / "lessons.po"
    save(catalog, path)
    updated = translate.update(LANG, path)
    assert "## A section that is no longer in the lessons" not in updated
    assert not updated["## Loading MNIST"].string and updated["## Training"].string == "## 训练"
    assert translate.problems(LANG, path) == ["empty: '## Loading MNIST'"]
    assert ("solutions/convnet/01_data.ipynb#loading_md", None) in load(path)["## Loading MNIST"].locations
    # The committed catalog is what update makes of it: nothing to add, nothing to drop.
    fresh = tmp_path / "fresh.po"
    shutil.copy(CATALOG, fresh)
    translate.update(LANG, fresh)
    assert fresh.read_bytes() == CATALOG.read_bytes()


@pytest.mark.parametrize(("english", "chinese", "lost"), [
    ("Write `f(x)` for 28 × 28 images, see https://keras.io/api/.",
     "为 28 × 28 的图像编写 `f(x)`，见 https://keras.io/api/。", []),
    ("Write `f(x)`.", "编写 f(x)。", ["`f(x)`"]),
    ("$\\lceil n \\rceil$ positions, 93,322 parameters", "$\\lceil n \\rceil$ 个位置，93322 个参数", ["93,322"]),
    ("from 2.2 % to 0.7 %", "从 2.2% 降到 0.7%", []),
    ("2 × 2 window, stride 2", "2 × 2 的窗口", ["2"]),
])
def test_placeholders_must_be_kept(english, chinese, lost):
    assert translate.lost_placeholders(english, chinese) == lost


# --- translating a notebook ------------------------------------------------------------------------

def test_the_units_of_a_notebook():
    nb = read(release.SOLUTIONS / "02_convnet.ipynb")
    units = translate.notebook_units(nb)
    texts = [u.text for u in units]
    assert translate.Unit("ceil(size / stride) with integers", "comment", "conv_output_size") in units
    assert translate.Unit("Output length along one side of a convolution or pooling window.", "docstring",
                          "conv_output_size") in units
    assert "## How big is the output of a convolution?" in texts
    assert "## Exercise 1 · The output-size formula (2 points)" in texts
    assert not any(t.startswith("$$") for t in texts), "display math stays as it is"
    comments = [u.text for u in units if u.kind == "comment"]
    assert comments == ["ceil(size / stride) with integers"], "no nbgrader marker, no comment of a test cell"
    assert not any(t.startswith("Check ") for t in texts), "the test cells' docstrings stay as they are"
    assert {u.cell for u in units}.isdisjoint({nbg(c)["grade_id"] for c in nb.cells if is_grade(c)})


def test_strict_translation_lists_every_unit_without_a_translation(tmp_path):
    catalog = load(CATALOG)
    del catalog["## Loading MNIST"]
    del catalog["the course's helpers (this also loads TensorFlow quietly)"]
    nb = read(release.SOLUTIONS / "01_data.ipynb")
    with pytest.raises(translate.MissingTranslations) as err:
        translate.translate_notebook(nb, LANG, catalog=catalog)
    assert "'## Loading MNIST'" in str(err.value) and "TensorFlow quietly" in str(err.value)
    loose = translate.translate_notebook(nb, LANG, catalog=catalog, strict=False)
    sources = [c.source for c in loose.cells]
    assert "## Loading MNIST" in sources[2] and "# the course's helpers (this also" in sources[1]
    assert "## 观察数据" in sources[4] and nb.cells[2].source.startswith("## Loading MNIST"), "a copy"


def test_translating_twice_changes_nothing():
    once = translate.translate_notebook(read(release.SOLUTIONS / "03_training.ipynb"), LANG)
    assert translate.translate_notebook(once, LANG) == once


def test_locked_only_leaves_the_answer_cells_as_they_are():
    nb = read(release.SOLUTIONS / "01_data.ipynb")
    done = translate.translate_notebook(nb, LANG, locked_only=True)
    for before, after in zip(nb.cells, done.cells):
        if is_solution(before):
            assert after.source == before.source
        elif nbg(before).get("locked") and not is_grade(before) and before.cell_type == "markdown":
            assert after.source != before.source
    every = translate.translate_notebook(nb, LANG)
    answer = next(c for c in every.cells if is_solution(c))
    assert '"""uint8 图像' in answer.source
    assert i18n.notebook_language(done) == LANG and done.metadata.kernelspec.name == "mnistcnn-zh_cn"


# --- notebooks/zh_CN/ ------------------------------------------------------------------------------

def test_the_chinese_edition_is_up_to_date_with_solutions_and_the_catalog(tmp_path):
    generated = release.generate(tmp_path, LANG)
    assert release.differences(generated, ZH) == [], "run `make notebooks` and commit notebooks/zh_CN/"
    stale = tmp_path / "stale"
    shutil.copytree(ZH, stale)
    path = stale / "01_data.ipynb"
    path.write_text(path.read_text().replace("加载 MNIST", "载入 MNIST"))
    assert release.differences(generated, stale) == ["differs: 01_data.ipynb"]


def code_without_comments_and_docstrings(source: str) -> str:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and ast.get_docstring(node, clean=False) is not None:
            node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree)


@pytest.mark.parametrize("name", NAMES)
def test_both_editions_are_the_same_assignment(name):
    english, chinese = read(release.NOTEBOOKS / name), read(ZH / name)
    assert len(english.cells) == len(chinese.cells)
    for en, zh in zip(english.cells, chinese.cells):
        assert en.cell_type == zh.cell_type
        meta_en, meta_zh = dict(nbg(en)), dict(nbg(zh))
        meta_en.pop("checksum", None), meta_zh.pop("checksum", None)
        assert meta_en == meta_zh, meta_en.get("grade_id")
        if is_grade(en) and not is_solution(en):
            assert zh.source == en.source and zh.metadata == en.metadata, meta_en["grade_id"]
        elif en.cell_type == "code":
            assert code_without_comments_and_docstrings(zh.source) == code_without_comments_and_docstrings(en.source)
        if en.cell_type == "code":
            assert len(zh.source.splitlines()) == len(en.source.splitlines())
        else:
            assert zh.source != en.source and re.search(r"[\u4e00-\u9fff]", zh.source)
            assert re.findall(r"\$\$.+?\$\$", en.source, re.S) == re.findall(r"\$\$.+?\$\$", zh.source, re.S)


@pytest.mark.parametrize("name", NAMES)
def test_the_chinese_edition_says_its_language_and_uses_its_kernel(name):
    nb = read(ZH / name)
    assert nb.metadata.mnistcnn == {"language": LANG} and i18n.notebook_language(nb) == LANG
    kernel, display = constants.LANGUAGE_KERNELS[LANG]
    assert nb.metadata.kernelspec == {"display_name": display, "language": "python", "name": kernel}
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_the_chinese_kernel_is_installed_and_sets_the_language():
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(constants.LANGUAGE_KERNELS[LANG][0])
    assert spec.env[i18n.ENV] == LANG


def test_exercise_headings_follow_the_glossary():
    """'## Exercise 1 · … (3 points)' becomes '## 练习 1 · …（3 分）', with the same numbers and points."""
    for name in NAMES:
        english = "\n".join(c.source for c in read(release.NOTEBOOKS / name).cells)
        chinese = "\n".join(c.source for c in read(ZH / name).cells)
        english = re.findall(r"^## Exercise (\d+) · .+ \((\d+) points?\)$", english, re.M)
        chinese = re.findall(r"^## 练习 (\d+) · .+（(\d+) 分）$", chinese, re.M)
        assert english and chinese == english, name


def test_the_chinese_student_version_has_no_solution_and_no_hidden_test():
    for name in NAMES:
        text = (ZH / name).read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "check_test_accuracy" not in text
        stubs = [c for c in read(ZH / name).cells if is_solution(c)]
        assert stubs and all("# YOUR CODE HERE\n    raise NotImplementedError()" in c.source for c in stubs)


def test_a_code_cell_keeps_its_code_its_markers_and_its_quotes():
    from babel.messages.catalog import Catalog

    catalog = Catalog(locale=LANG, domain=translate.DOMAIN)
    catalog.add("Twice x.", "x 的两倍。")
    catalog.add("the answer", "答案")
    cell = nbformat.v4.new_code_cell("def double(x):\n    'Twice x.'\n    ### BEGIN SOLUTION\n"
                                     "    return 2 * x  # the answer\n    ### END SOLUTION\n"
                                     "import os  # noqa: F401\n# YOUR CODE HERE")
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "locked": False, "grade_id": "double"}
    nb = nbformat.v4.new_notebook(cells=[cell])
    done = translate.translate_notebook(nb, LANG, catalog=catalog).cells[0].source
    assert done == ("def double(x):\n    'x 的两倍。'\n    ### BEGIN SOLUTION\n"
                    "    return 2 * x  # 答案\n    ### END SOLUTION\nimport os  # noqa: F401\n# YOUR CODE HERE")
    catalog["Twice x."].string = "x 的'两倍'。"
    with pytest.raises(ValueError, match="without quotes"):
        translate.translate_notebook(nb, LANG, catalog=catalog)


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_every_hint_names_a_heading_of_its_notebook(lang):
    """The hint after three failures names a section of the lesson: that heading exists, in the
    notebook it names, in each edition."""
    import re

    import nbformat

    from mnistcnn import hints, i18n

    folder = release.release_folder(lang)
    headings = {}
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        headings[int(path.name[:2])] = {line.lstrip("#").strip() for c in nb.cells if c.cell_type == "markdown"
                                        for line in c.source.splitlines() if line.startswith("#")}
    for key, section in hints.SECTIONS.items():
        text = i18n.gettext(section, lang=lang)
        number = int(re.search(r"\d", text).group())
        title = re.search(r'["“](.+)["”]', text).group(1)
        found = [h for h in headings[number] if re.fullmatch(re.escape(title) + r"(\s*[(（]\d+ .+[)）])?", h)]
        assert found, f"{key}: {title!r} is not a heading of notebook {number} ({lang}): {headings[number]}"
