"""The translation catalogs of the code are complete and in step with it (domains course, grader)."""

import shutil

import pytest

from autograder.course import catalogs
from mnistcnn import i18n

OTHER_LANGUAGES = [lang for lang in i18n.LANGUAGES if lang != i18n.SOURCE_LANGUAGE]


@pytest.mark.parametrize("lang", OTHER_LANGUAGES)
@pytest.mark.parametrize("domain", list(catalogs.SOURCES))
def test_the_catalog_translates_every_message_of_the_code(domain, lang):
    assert catalogs.problems(lang, domain) == []


@pytest.fixture
def locale_copy(tmp_path, monkeypatch):
    shutil.copytree(i18n.LOCALE_DIR, tmp_path / "locale")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path / "locale")
    return tmp_path / "locale"


def test_check_finds_a_missing_a_stale_an_empty_and_a_broken_entry(locale_copy):
    """What the completeness test relies on: each kind of problem is found and named."""
    from babel.messages.pofile import read_po, write_po

    path = i18n.catalog_path("zh_CN", "course")
    catalog = read_po(path.open("rb"), locale="zh_CN")
    with_placeholder = next(m for m in catalog if m.id and "{" in m.id and isinstance(m.id, str))
    without = [m for m in catalog if m.id and isinstance(m.id, str) and m.id != with_placeholder.id]
    removed, emptied = without[0], without[1]
    catalog.delete(removed.id, context=removed.context)
    catalog[emptied.id].string = ""
    with_placeholder.string = "翻译丢了占位符"
    catalog.add("a message the code no longer has", "代码里已经没有的消息")
    write_po(path.open("wb"), catalog)
    found = "\n".join(catalogs.problems("zh_CN", "course"))
    assert f"no translation for {removed.id!r}" in found
    assert f"empty translation of {emptied.id!r}" in found
    assert f"the translation of {with_placeholder.id!r} does not keep" in found
    assert "stale entry 'a message the code no longer has'" in found


def test_a_message_in_chinese_and_back():
    """Messages follow the chosen language, and an unknown language is refused with the known ones."""
    message = next(m.id for m in catalogs.read("zh_CN", "course") if m.id and isinstance(m.id, str))
    with i18n.using("zh_CN"):
        zh = i18n.gettext(message)
    assert zh != message and i18n.gettext(message) == message
    with pytest.raises(ValueError, match="zh_CN"):
        i18n.set_language("xx")


@pytest.mark.parametrize("lang", list(i18n.LANGUAGES))
def test_make_lab_opens_the_first_notebook_of_the_edition(lang):
    from autograder.course import lab

    edition, rest = lab.split_edition(["--edition", lang, "--no-browser"])
    assert (edition, rest) == (lang, ["--no-browser"])
    url = next(a for a in lab.command(edition=edition) if a.startswith("--ServerApp.default_url="))
    path = url.split("/lab/tree/", 1)[1]
    assert (lab.ROOT / path).is_file(), path
    with pytest.raises(ValueError, match="has no language 'fr'"):
        lab.command(edition="fr")


def _local_names(fn) -> set[str]:
    """Names a function binds in its own scope (not in its comprehensions, lambdas or nested functions)."""
    import ast

    names, todo = set(), list(ast.iter_child_nodes(fn))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp,
                             ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        todo.extend(ast.iter_child_nodes(node))
    return names


def test_no_function_hides_the_translation_function_behind_a_local_name():
    """A function that binds `_` (``for _ in ...``, ``x, _ = ...``) cannot call ``_()``: the call
    fails only when that path runs (a sandbox-stopped notebook once made nbgrader's autograde fail)."""
    import ast

    from autograder.course.catalogs import ROOT

    found = []
    for path in sorted([*ROOT.glob("mnistcnn/*.py"), *ROOT.glob("autograder/**/*.py")]):
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and {"_", "N_"} & _local_names(fn):
                calls = {n.func.id for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
                if {"_", "N_"} & calls & _local_names(fn):
                    found.append(f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name}")
    assert found == []
