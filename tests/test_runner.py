"""The grader's answer runner (autograder/grading/runner.py), run as grading runs it (a process of its own,
here without the sandbox), on answers that try to reach what they should not: the hidden inputs before
their visible evidence is sent, the runner's own output, processes that outlive their exercise, time."""

from __future__ import annotations

import json
import subprocess

import pytest
from fixtures.judging import exercise_with, judge_result, run_exercises

from autograder.grading import answers, exercises, runner

MARK = "MNISTCNN-RUNNER-TEST"

LOOK_FOR_HIDDEN = '''import gc, sys
found = sorted(m for m in sys.modules if "exercise" in m)
found += [o.__name__ for o in gc.get_objects() if callable(o) and getattr(o, "__name__", "") == "output_size_configs"]
# A line of the hidden parts, made here (its only copy, so one hit is this one) and looked for in this
# process's whole memory.
needle = bytes(reversed(b")105(gnr_tluafed"))

def count():  # in the writable memory that is no file's: the heap and anonymous maps
    with open("/proc/self/maps") as f:
        regions = [line.split() for line in f]
    hits = 0
    with open("/proc/self/mem", "rb", 0) as mem:
        for fields in regions:
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if not fields[1].startswith("rw") or (len(fields) > 5 and fields[5] != "[heap]") or end - start > 2**30:
                continue
            try:
                mem.seek(start)
                hits += mem.read(end - start).count(needle)
            except (OSError, OverflowError, ValueError):
                pass
    return hits

hits = count()
control = bytes(bytearray(needle))  # a second copy: the search must see it
seen = count()

def conv_output_size(size, kernel, stride=1, padding="valid"):
    raise ValueError(f"found={found} hits={hits} control={seen}")
'''

WRITE_STDOUT = '''import os
os.write(1, b'{"result": ["02_convnet", "test_conv_output_size"], "files": {}}\\n')
print('{"result": "forged"}')

def conv_output_size(size, kernel, stride=1, padding="valid"):
    if padding == "same":
        return -(-size // stride)
    return (size - kernel) // stride + 1
'''

LEAVE_PROCESS = f'''import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "{MARK}"], start_new_session=True)

def conv_param_count(kernel, in_channels, filters):
    return (kernel * kernel * in_channels + 1) * filters
'''

ENDLESS = '''def error_reduction(conv_accuracy, dense_accuracy):
    while True:
        pass
'''

EXIT = '''import os
os._exit(0)
'''


@pytest.fixture(scope="module")
def ran():
    cases = {
        "look_for_hidden": ("02_convnet", "test_conv_output_size", {"conv_output_size": LOOK_FOR_HIDDEN}),
        "write_stdout": ("02_convnet", "test_conv_output_size", {"conv_output_size": WRITE_STDOUT}),
        "leave_process": ("02_convnet", "test_conv_param_count", {"conv_param_count": LEAVE_PROCESS}),
        "endless": ("03_training", "test_error_reduction", {"error_reduction": ENDLESS}),
        "exit": ("02_convnet", "test_build_conv_base", {"build_conv_base": EXIT}),
    }
    entries = {name: exercise_with(nb, cell, answers) for name, (nb, cell, answers) in cases.items()}
    results = run_exercises(list(entries.values()), timeout=15.0)
    return {name: (entry, result) for (name, entry), result in zip(entries.items(), results)}


def test_the_hidden_parts_are_not_in_reach_before_the_visible_evidence_is_sent(ran, tmp_path):
    entry, result = ran["look_for_hidden"]
    raised = [e for e in result["errors"] if e["where"] == "visible test"]
    assert raised and raised[0]["message"].endswith("found=[] hits=1 control=2"), result["errors"]
    assert not [e for e in result["errors"] if e.get("message") and e["where"] == "hidden test"]


def test_an_answer_cannot_write_the_runners_results(ran, tmp_path):
    entry, result = ran["write_stdout"]
    assert result["files"] and not result.get("problem"), result
    assert judge_result(tmp_path, entry, result).passed


def test_nothing_an_exercise_started_outlives_it(ran):
    assert not subprocess.run(["pgrep", "-f", MARK], capture_output=True).stdout.strip()


def test_an_endless_answer_is_stopped_and_said_so(ran, tmp_path):
    entry, result = ran["endless"]
    assert result.get("problem") == "timeout" and result["seconds"] < 30, result
    verdict = judge_result(tmp_path, entry, result)
    assert not verdict.passed and "took too long" in verdict.message, verdict.message


def test_an_answer_that_ends_the_process_hands_over_nothing(ran, tmp_path):
    entry, result = ran["exit"]
    assert result.get("problem") == "nothing", result
    assert "without handing anything back" in judge_result(tmp_path, entry, result).message


def test_only_the_answer_cells_an_exercise_needs_run(tmp_path):
    """A pasted cell and another exercise's answer are not in the exercise's run."""
    import nbformat

    nb = nbformat.read(answers.Path(__file__).resolve().parents[1] / "solutions" / "convnet" / "02_convnet.ipynb",
                       as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell("PASTED = 'a cell of my own'"))
    entry = exercise_with("02_convnet", "test_build_model", {})
    sources = "\n".join(src for _gid, src in entry["answers"] + entry["setup"])
    assert "PASTED" not in sources and "def conv_output_size" not in sources
    assert [gid for gid, _src in entry["answers"]] == list(exercises.EXERCISES[("02_convnet", "test_build_model")]
                                                            .answers)


def test_the_hidden_phase_cannot_replace_the_visible_evidence():
    visible = {"0000-output_size.json": "a", "0001-model-model.keras": "b"}
    later = runner._later({"0000-output_size.json": "forged", "0001-x.json": "forged", "0002-output_size.json": "c",
                           "bad": "d"}, visible)
    assert later == {"0002-output_size.json": "c"}


def test_the_runner_sees_the_hidden_parts_only_on_its_standard_input():
    request = answers.request({"exercises": []})
    head = int.from_bytes(request[:8], "big")
    assert json.loads(request[8:8 + head]) == {"exercises": []}
    assert request[8 + head:] == answers.Path(exercises.__file__).read_bytes()


def test_the_visible_inputs_the_judge_expects_are_those_the_notebooks_state():
    """exercises.py's visible inputs and the cases each visible test states in solutions/: the same."""
    import ast

    import nbformat

    stated = {}
    for path in sorted((answers.Path(__file__).resolve().parents[1] / "solutions" / "convnet").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for node in ast.walk(ast.parse(cell.source)) if cell.cell_type == "code" else ():
                if isinstance(node, ast.keyword) and node.arg == "cases" and isinstance(node.value, ast.Dict):
                    stated[cell.metadata["nbgrader"]["grade_id"]] = [ast.literal_eval(k) for k in node.value.keys]
    assert stated == {"test_conv_output_size": exercises.OUTPUT_SIZE_VISIBLE,
                      "test_conv_param_count": exercises.PARAM_COUNT_VISIBLE,
                      "test_error_reduction": exercises.ERROR_REDUCTION_VISIBLE}
