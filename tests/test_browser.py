"""The course as students see it: JupyterLab in a real browser (Debian's Chromium, driven by Playwright).

A JupyterLab server is started the way `make lab` starts it (autograder.course.lab), on a copy of the course
in a temporary folder, on a free loopback port with a random token, and always stopped at the end.
Screenshots of every step are written to test-artifacts/browser/, with the server's log.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbgrader.utils import is_grade

from autograder.course import lab as course_lab
from autograder.course import release
from mnistcnn import TF_ENV
from mnistcnn.constants import ASSIGNMENT, KERNEL_DISPLAY_NAME, KERNEL_NAME, LANGUAGE_KERNELS
from mnistcnn.screening import grade_id

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 # A page served by the test itself (the Validate check) may still reach the loopback server.
                 "--disable-features=LocalNetworkAccessChecks"]
VALIDATE_PLUGIN = "@jupyter/nbgrader:validate-assignment"
ERROR_OUTPUTS = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
VALIDATION_TIMEOUT_MS = 300_000  # the Validate button executes the whole notebook on the server
RUN_ALL_TIMEOUT_MS = 300_000


def chromium() -> str:
    """The system's Chromium; the test fails (never skips) without it."""
    path = shutil.which(CHROMIUM)
    if path is None:
        pytest.fail(f"Chromium is missing ({CHROMIUM}): the browser test needs Debian's chromium package "
                    "(`apt-get install chromium`; .ci/run installs it), or CHROMIUM=<path of a Chromium>.")
    return path


# ---------------------------------------------------------------------------------------------------
# The course, the server and the browser
# ---------------------------------------------------------------------------------------------------

def with_cell(nb, after_grade_id: str, source: str):
    """``nb`` with a code cell inserted after the cell ``after_grade_id`` (a student's own cell)."""
    index = next(i for i, c in enumerate(nb.cells) if grade_id(c) == after_grade_id)
    cell = nbformat.v4.new_code_cell(source)
    if nb.nbformat_minor < 5:  # cell ids came with nbformat 4.5
        del cell["id"]
    nb.cells.insert(index + 1, cell)
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A copy of the course: its nbgrader configuration, solutions and student version (both
    editions), plus what students hand in: every answer filled in (solved/, solved-zh/), one mistake
    (mistake/, mistake-zh/), and a notebook that prints a warning and then errors (broken/)."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    (course / "autograder" / "course").mkdir(parents=True)  # the configuration the top-level file loads
    shutil.copy(ROOT / "autograder" / "course" / "nbgrader_config.py", course / "autograder" / "course")
    for folder in ("notebooks", "solutions"):
        shutil.copytree(ROOT / folder / ASSIGNMENT, course / folder / ASSIGNMENT)
    solved = release.solved_copy(course / "solved" / ASSIGNMENT)

    nb = nbformat.read(solved / "02_convnet.ipynb", as_version=4)
    for cell in nb.cells:
        if grade_id(cell) == "build_conv_base":
            wrong = cell.source.replace('layers.Conv2D(32, (3, 3), activation="relu")',
                                        'layers.Conv2D(32, (3, 3), activation="relu", padding="same")')
            assert wrong != cell.source, "the convolutional base of the solution changed: update this test"
            cell.source = wrong
    (course / "mistake" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(nb, course / "mistake" / ASSIGNMENT / "02_convnet.ipynb")

    # The Chinese edition: its student version, solved, and the same mistake.
    shutil.copytree(release.release_folder("zh_CN"), course / "notebooks" / "zh_CN" / ASSIGNMENT)
    solved_zh = release.solved_copy(course / "solved-zh" / ASSIGNMENT, lang="zh_CN")
    nb = nbformat.read(solved_zh / "02_convnet.ipynb", as_version=4)
    for cell in nb.cells:
        if grade_id(cell) == "build_conv_base":
            cell.source = cell.source.replace('layers.Conv2D(32, (3, 3), activation="relu")',
                                              'layers.Conv2D(32, (3, 3), activation="relu", padding="same")')
    (course / "mistake-zh" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(nb, course / "mistake-zh" / ASSIGNMENT / "02_convnet.ipynb")

    nb = nbformat.read(solved / "01_data.ipynb", as_version=4)
    with_cell(nb, "digit_grid", 'import sys\nprint("a warning nobody can act on", file=sys.stderr)')
    with_cell(nb, "counts", "1 / 0")
    (course / "broken" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(nb, course / "broken" / ASSIGNMENT / "01_data.ipynb")
    return course


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    url: str
    token: str
    course: Path

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None


def stop(proc: subprocess.Popen) -> None:
    """Stop the server and its kernels (its process group): SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def lab(course, tmp_path_factory):
    """JupyterLab on the course copy, started like `make lab`; stopped whatever happens."""
    home = tmp_path_factory.mktemp("jupyter-home")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    course_lab.prepare(course)
    cmd = course_lab.command(
        course, "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", "--ServerApp.allow_root=True",
        f"--LabApp.workspaces_dir={home / 'workspaces'}", f"--LabApp.user_settings_dir={home / 'settings'}")
    env = release.tool_env()
    # Nothing from the user's own Jupyter configuration, kernels or settings: only the course's.
    env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), MNISTCNN_STATE_DIR=str(home / "state"))
    log_path = ARTIFACTS / "jupyterlab.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            server = Lab(f"http://127.0.0.1:{port}", token, course)
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"JupyterLab exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
                try:
                    server.api("/api/status")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"JupyterLab did not answer within 120 s:\n{log_path.read_text()[-3000:]}")
                    time.sleep(0.5)
            yield server
        finally:
            stop(proc)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    executable = chromium()
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900})
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser, lab, request):
    """A browser tab; on the way out a screenshot of where it stopped, and the kernels shut down."""
    page = browser.new_page()
    try:
        yield page
    finally:
        try:
            page.screenshot(path=ARTIFACTS / f"{request.node.name}-last.png")
        finally:
            page.close()
            for session in lab.api("/api/sessions"):
                lab.api(f"/api/sessions/{session['id']}", method="DELETE")


# ---------------------------------------------------------------------------------------------------
# What a student does
# ---------------------------------------------------------------------------------------------------

def open_notebook(page, lab: Lab, path: str):
    """Open ``path`` in JupyterLab (a fresh workspace) and wait for its kernel; return the panel."""
    from playwright.sync_api import expect

    workspace = re.sub(r"\W", "-", path)
    page.goto(f"{lab.url}/lab/workspaces/{workspace}/tree/{path}?reset&token={lab.token}")
    panel = page.locator(".jp-NotebookPanel:visible")
    expect(panel.locator(".jp-Notebook")).to_be_visible(timeout=90_000)
    deadline = time.monotonic() + 90
    while not any(s["path"] == path and s["kernel"]["execution_state"] == "idle" for s in lab.api("/api/sessions")):
        assert time.monotonic() < deadline, f"no kernel started and went idle for {path}: {lab.api('/api/sessions')}"
        page.wait_for_timeout(500)  # not time.sleep: Playwright keeps serving the page's events meanwhile
    expect(panel.locator(".jp-NotebookPanel-toolbar [data-jp-item-name=kernelName]")).not_to_have_text("No Kernel")
    expect(panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute("data-status", "idle",
                                                                               timeout=90_000)
    return panel


def menu(page, *names: str) -> None:
    """Click through the menu bar: menu(page, "Run", "Run All Cells")."""
    page.locator(".lm-MenuBar").get_by_role("menuitem", name=names[0], exact=True).click()
    for name in names[1:]:
        page.locator(".lm-Menu").get_by_role("menuitem", name=name, exact=True).click()


def run_all(page, panel) -> dict:
    """Run → Run All Cells, wait until the kernel is idle again; what the notebook shows then."""
    menu(page, "Run", "Run All Cells")
    page.wait_for_function(
        """([node, errors]) => {
            const status = node.querySelector('.jp-Notebook-ExecutionIndicator').dataset.status;
            const prompts = [...node.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent);
            const done = prompts.every(p => /\\[\\d+\\]/.test(p)) || node.querySelector(errors) !== null;
            return status === 'idle' && done && !prompts.some(p => p.includes('*'));
        }""",
        arg=[panel.element_handle(), ERROR_OUTPUTS], timeout=RUN_ALL_TIMEOUT_MS)
    # textContent, not innerText: JupyterLab skips the rendering of cells out of view.
    prompts = panel.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()
    return {
        "code cells": len(prompts),
        "not run": [i for i, p in enumerate(prompts) if not re.search(r"\[\d+\]", p)],
        "errors": panel.locator(ERROR_OUTPUTS).all_text_contents(),
    }


def validate_button(panel, timeout: float = 20_000):
    from playwright.sync_api import expect

    button = panel.locator(".jp-NotebookPanel-toolbar .validate-button")
    expect(button, "nbgrader's Validate button is not in the notebook toolbar").to_be_visible(timeout=timeout)
    expect(button).to_have_text("Validate")
    return button


def validate(page, panel) -> tuple[str, str]:
    """Click Validate, wait for nbgrader's result dialog; its outcome (success/failed/...) and text."""
    validate_button(panel).click()
    message = page.locator(".jp-Dialog #validation-message")
    message.wait_for(timeout=VALIDATION_TIMEOUT_MS)
    outcome = next((c.removeprefix("validation-") for c in message.get_attribute("class").split()
                    if c.startswith("validation-")), "error")
    return outcome, message.inner_text()


def close_dialog(page) -> None:
    page.locator(".jp-Dialog").get_by_role("button", name="Ok").click()
    page.locator(".jp-Dialog").wait_for(state="detached")


def assert_kernel(panel, lab: Lab, path: str, name: str, display_name: str) -> dict:
    """The notebook at ``path`` runs in the kernel ``name``, shown as ``display_name``; its kernel spec."""
    kernel_name = panel.locator(".jp-NotebookPanel-toolbar [data-jp-item-name=kernelName]")
    assert kernel_name.inner_text().strip() == display_name
    sessions = {s["path"]: s["kernel"]["name"] for s in lab.api("/api/sessions")}
    assert sessions.get(path) == name, sessions
    return lab.api("/api/kernelspecs")["kernelspecs"][name]["spec"]


def docstrings_of_graded_tests(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [c.source.split('"""')[1] for c in nb.cells
            if c.cell_type == "code" and is_grade(c)]


# ---------------------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------------------

def test_first_notebook_runs_all_in_the_course_kernel_and_shows_the_digits(page, lab):
    path = f"solved/{ASSIGNMENT}/01_data.ipynb"
    panel = open_notebook(page, lab, path)

    # The course's own kernel, with its environment.
    spec = assert_kernel(panel, lab, path, KERNEL_NAME, KERNEL_DISPLAY_NAME)
    assert {k: spec["env"].get(k) for k in TF_ENV} == TF_ENV, spec["env"]
    validate_button(panel)
    page.screenshot(path=ARTIFACTS / "01-notebook-opened.png")

    result = run_all(page, panel)
    assert result["errors"] == [], "error or stderr output after Run All:\n" + "\n---\n".join(result["errors"])
    assert result["not run"] == [], f"code cells that did not run: {result['not run']} of {result['code cells']}"

    # The digit grid, rendered inline as a PNG under the cell that draws it, with dark strokes on white.
    image = panel.locator(".jp-CodeCell", has_text="plots.show_digits").locator(".jp-RenderedImage img")
    assert image.count() == 1
    image.scroll_into_view_if_needed()
    pixels = image.evaluate("""img => {
        const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
        const d = ctx.getImageData(0, 0, c.width, c.height).data;
        let dark = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] < 200) dark++;
        return {width: img.naturalWidth, height: img.naturalHeight, dark: dark / (d.length / 4),
                src: img.src.slice(0, 22)};
    }""")
    assert pixels["src"] == "data:image/png;base64,", pixels
    assert pixels["width"] >= 400 and pixels["height"] >= 200, pixels
    assert 0.02 < pixels["dark"] < 0.5, f"the digit grid looks empty or black: {pixels}"
    page.screenshot(path=ARTIFACTS / "02-run-all-digit-grid.png")


def test_convnet_notebook_runs_all_without_errors_or_warnings(page, lab):
    """The second notebook builds and predicts with Keras models: nothing on stderr in JupyterLab."""
    panel = open_notebook(page, lab, f"solved/{ASSIGNMENT}/02_convnet.ipynb")
    result = run_all(page, panel)
    page.screenshot(path=ARTIFACTS / "02b-run-all-convnet.png")
    assert result["errors"] == [], "error or stderr output after Run All:\n" + "\n---\n".join(result["errors"])
    assert result["not run"] == [], f"code cells that did not run: {result['not run']} of {result['code cells']}"
    # model.summary() of the convolutional base, rendered in the notebook: 320 + 18,496 + 36,928 weights.
    summaries = panel.locator(".jp-OutputArea-output", has_text="Total params").all_text_contents()
    assert any(re.search(r"Total params: 55,744\b", text) for text in summaries), summaries


def test_validate_a_solved_notebook_succeeds(page, lab):
    panel = open_notebook(page, lab, f"solved/{ASSIGNMENT}/01_data.ipynb")
    outcome, text = validate(page, panel)
    page.screenshot(path=ARTIFACTS / "03-validate-solved.png")
    assert outcome == "success", text
    assert "Success! Your notebook passes all the tests." in text
    close_dialog(page)


def test_validate_the_blank_student_version_lists_every_failed_test(page, lab):
    path = f"notebooks/{ASSIGNMENT}/02_convnet.ipynb"
    panel = open_notebook(page, lab, path)
    outcome, text = validate(page, panel)
    page.screenshot(path=ARTIFACTS / "04-validate-blank.png")
    assert outcome == "failed", text
    docstrings = docstrings_of_graded_tests(lab.course / path)
    assert text.count("The following cell failed:") == len(docstrings) > 0, text
    for line in docstrings:  # each failed test says what it checks
        assert line in text, f"missing from the validation result: {line}"
    assert "NotImplementedError" in text
    close_dialog(page)


def test_validate_a_mistake_shows_the_teaching_message(page, lab):
    """The message and the line of the student's test cell, not the course's own frames; from the
    third failure in a row, one more line points at the lesson and the documentation."""
    panel = open_notebook(page, lab, f"mistake/{ASSIGNMENT}/02_convnet.ipynb")
    for attempt in (1, 2, 3):
        outcome, text = validate(page, panel)
        assert ("hint (3 failures in a row)" in text) == (attempt == 3), text
        if attempt < 3:
            close_dialog(page)
    # Scroll the traceback to its end, where the course's message is, as a student would.
    page.locator("#validation-message pre").last.evaluate(
        "pre => { for (let e = pre; e; e = e.parentElement) if (e.scrollHeight > e.clientHeight) e.scrollTop = 1e9; }")
    page.screenshot(path=ARTIFACTS / "05-validate-mistake.png")
    assert outcome == "failed", text
    assert "CheckFailed" in text
    assert re.search(r"expected: .*padding='valid'", text) and re.search(r"you have: .*padding='same'", text), text
    assert "likely mistake: padding='same' keeps the size" in text
    assert "checks.check_conv_base(build_conv_base)" in text and "Cell In[" in text, text
    assert "checks.py" not in text and "raise CheckFailed" not in text and "During handling" not in text, text
    assert 'notebook 2, "Exercise 3 · The convolutional base"' in text
    close_dialog(page)


def test_formgrader_shows_the_assignment(page, lab):
    open_notebook(page, lab, f"notebooks/{ASSIGNMENT}/01_data.ipynb")
    page.locator(".lm-MenuBar").get_by_role("menuitem", name="Nbgrader", exact=True).click()
    items = page.locator(".lm-Menu .lm-Menu-itemLabel").all_inner_texts()
    # The student-side exchange (Assignment List, Courses) is not used by this course: disabled.
    assert "Formgrader" in items and "Assignment List" not in items and "Course List" not in items, items
    page.locator(".lm-Menu").get_by_role("menuitem", name="Formgrader", exact=True).click()
    formgrader = page.frame_locator("iframe[src*='formgrader']")
    name = formgrader.locator("td.name", has_text=re.compile(rf"^\s*{ASSIGNMENT}\s*$"))
    name.wait_for(timeout=60_000)
    page.screenshot(path=ARTIFACTS / "06-formgrader.png")
    assert formgrader.get_by_text("Loading, please wait").count() == 0


def test_run_all_finds_errors_and_warnings(page, lab):
    """The check of the first test fails on a notebook that writes to stderr and raises."""
    panel = open_notebook(page, lab, f"broken/{ASSIGNMENT}/01_data.ipynb")
    result = run_all(page, panel)
    page.screenshot(path=ARTIFACTS / "07-run-all-broken.png")
    errors = "\n".join(result["errors"])
    assert "a warning nobody can act on" in errors and "ZeroDivisionError" in errors, result
    assert result["not run"], "cells after the error should not have run"


def test_a_missing_validate_button_is_found_missing(page, lab):
    """The check of the Validate button fails on a JupyterLab whose nbgrader Validate plugin is disabled
    (in the page configuration the server sends, as `jupyter labextension disable` would do)."""
    def without_validate(route):
        response = route.fetch()
        html = response.text()
        found = re.search(r'(<script id="jupyter-config-data" type="application/json">)(.*?)(</script>)', html, re.S)
        config = json.loads(found.group(2))
        config["disabledExtensions"] = [*config.get("disabledExtensions", []), VALIDATE_PLUGIN]
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        route.fulfill(response=response, headers=headers,
                      body=html[:found.start(2)] + json.dumps(config) + html[found.end(2):])

    page.route(re.compile(r"/lab/workspaces/[^?]*/tree/"), without_validate)
    panel = open_notebook(page, lab, f"notebooks/{ASSIGNMENT}/01_data.ipynb")
    with pytest.raises(AssertionError, match="Validate button is not in the notebook toolbar"):
        validate_button(panel, timeout=5_000)
    page.screenshot(path=ARTIFACTS / "08-no-validate-button.png")


# ---------------------------------------------------------------------------------------------------
# The Chinese edition
# ---------------------------------------------------------------------------------------------------

ZH_KERNEL, ZH_DISPLAY_NAME = LANGUAGE_KERNELS["zh_CN"]


def test_the_chinese_edition_runs_in_its_kernel_with_chinese_text(page, lab):
    """The Chinese first notebook opens in the Chinese kernel, runs all without an error, and shows
    the lesson, the digit grid and the grid's text alternative in Chinese."""
    path = f"solved-zh/{ASSIGNMENT}/01_data.ipynb"
    panel = open_notebook(page, lab, path)
    spec = assert_kernel(panel, lab, path, ZH_KERNEL, ZH_DISPLAY_NAME)
    assert spec["env"]["MNISTCNN_LANGUAGE"] == "zh_CN"

    result = run_all(page, panel)
    page.screenshot(path=ARTIFACTS / "09-zh-run-all.png")
    assert result["errors"] == [], "error or stderr output after Run All:\n" + "\n---\n".join(result["errors"])
    assert result["not run"] == [], f"code cells that did not run: {result['not run']} of {result['code cells']}"
    headings = panel.locator(".jp-MarkdownOutput h1, .jp-MarkdownOutput h2").all_text_contents()
    assert any("数据：手写数字" in h for h in headings) and any(h.startswith("练习 1") for h in headings), headings
    grid = panel.locator(".jp-CodeCell", has_text="plots.show_digits")
    assert grid.locator(".jp-RenderedImage img").count() == 1
    alternative = grid.locator(".mnistcnn-text-alternative").text_content()
    assert "逐行列出它们的标签" in alternative and "第 1 行：5 0 4 1 9 2 1 3" in alternative, alternative
    passed = panel.locator(".jp-OutputArea-output", has_text="✓").all_text_contents()
    assert passed and not any(re.search(r"[A-Za-z]{3,} [a-z]{3,} [a-z]{3,}", t) for t in passed), passed


def test_validate_the_chinese_edition_gives_the_messages_in_chinese(page, lab):
    """Validate on the Chinese notebook with a mistake: the check's message in Chinese, the three
    labels included; nothing of the English message is left."""
    panel = open_notebook(page, lab, f"mistake-zh/{ASSIGNMENT}/02_convnet.ipynb")
    outcome, text = validate(page, panel)
    page.locator("#validation-message pre").last.evaluate(
        "pre => { for (let e = pre; e; e = e.parentElement) if (e.scrollHeight > e.clientHeight) e.scrollTop = 1e9; }")
    page.screenshot(path=ARTIFACTS / "10-zh-validate-mistake.png")
    assert outcome == "failed", text
    assert "卷积基：第 0 层（Conv2D）" in text, text
    assert "应为：padding='valid'" in text and "你的结果：padding='same'" in text and "可能的错误：" in text, text
    assert "expected:" not in text and "you have:" not in text and "likely mistake:" not in text, text
    close_dialog(page)
    panel = open_notebook(page, lab, f"solved-zh/{ASSIGNMENT}/02_convnet.ipynb")
    outcome, text = validate(page, panel)
    assert outcome == "success", text
    close_dialog(page)
