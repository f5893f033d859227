"""No answer key within a student's reach: the kit (its ``mnistcnn/``, which the notebooks' kernel
imports) holds none of the grader's references (autograder/grading/references.py), neither as code
nor as data, and none of its callables gives the right answer of a graded exercise.

The search reads the built kit's Python files (the code, not its strings: messages may name a
formula, they compute nothing), then imports the kit's package in a separate process and calls
every callable of it on hidden configurations.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autograder.course import kit
from autograder.grading import exercises, references

REFERENCES = Path(references.__file__)
EXERCISES = Path(exercises.__file__)
#: The functions of references.py that compute an answer or list hidden inputs (the judging ones
#: delegate to the students' checks with these).
REFERENCE_FUNCTIONS = ("conv_configs", "param_count_configs", "preprocessed", "_scaled_close", "_fail_scaling",
                       "keras_output_size", "_output_size_mistake", "keras_param_count", "_param_count_mistake",
                       "error_reduction", "_reduction_mistake")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return kit.build(tmp_path_factory.mktemp("dist"))


def kit_python(built) -> dict[str, str]:
    return {rel: (built.folder / rel).read_text() for rel in built.files if rel.endswith(".py")}


def _words(node: ast.AST) -> int:
    return len(re.findall(r"\w+", ast.unparse(node)))


#: The names a mistake's test gives the student's result and the right one: an expression with them
#: compares, it computes no answer (its parts that compute one are searched on their own).
RESULTS = {"g", "got", "want"}

#: Known, and left as it is: the accuracy measurement that nbgrader's Validate runs in the student's
#: own setting (mnistcnn.grading.measure) scales the test images itself, as the released notebooks 2
#: and 3 do in their locked cells (the book's own preprocessing, given by the lesson once notebook 1
#: is done).
KNOWN = {("mnistcnn/grading.py", "<images as float / 255>"),
         ("mnistcnn/grading.py", "images.reshape((len(images), 28, 28, 1)).astype('float32') / 255")}


def reference_expressions() -> set[str]:
    """The code of the references: each computation of a reference function (an arithmetic
    expression of four words at least, a Keras layer built from the function's arguments), as
    ast.unparse writes it."""
    tree = ast.parse(REFERENCES.read_text())
    found = set()
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef) or fn.name not in REFERENCE_FUNCTIONS:
            continue
        params = {a.arg for a in fn.args.args}
        for node in ast.walk(fn):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            if isinstance(node, ast.BinOp) and names & params and not names & RESULTS and _words(node) >= 4:
                found.add(ast.unparse(node))
            if isinstance(node, ast.Call) and ast.unparse(node.func).startswith("keras.") and names & params:
                found.add(ast.unparse(node))
    return found


def reference_constants() -> set:
    """The data of the references: the axes of the hidden inputs (tuples of four numbers or words at
    least) and the table's per-layer output shapes and parameter counts."""
    tree = ast.parse(EXERCISES.read_text())  # the hidden inputs' one home
    axes = {ast.literal_eval(node) for fn in tree.body if isinstance(fn, ast.FunctionDef)
            and fn.name in ("output_size_configs", "param_count_configs") for node in ast.walk(fn)
            if isinstance(node, ast.Tuple) and len(node.elts) >= 4
            and all(isinstance(e, ast.Constant) for e in node.elts)}
    shapes = {row[1] for row in references.CONV_BASE}
    counts = {row[2] for row in references.FULL_MODEL if row[2] > 0}
    return axes | shapes | counts


def code_of(source: str) -> tuple[set[str], set]:
    """A module's expressions (unparsed) and its constants (tuples of constants, numbers), strings left out."""
    exprs, constants = set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.BinOp, ast.Call)):
            exprs.add(ast.unparse(node))
        if isinstance(node, ast.Tuple) and node.elts and all(isinstance(e, ast.Constant) for e in node.elts):
            constants.add(ast.literal_eval(node))
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            constants.add(node.value)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) \
                and ast.unparse(node.right) in ("255", "255.0") and "astype" in ast.unparse(node.left):
            exprs.add("<images as float / 255>")
    return exprs, constants


def leaks(files: dict[str, str]) -> list[str]:
    expressions, constants = reference_expressions() | {"<images as float / 255>"}, reference_constants()
    out = []
    for rel, source in sorted(files.items()):
        exprs, consts = code_of(source)
        out += [f"{rel}: computes {e}" for e in sorted(exprs & expressions) if (rel, e) not in KNOWN]
        out += [f"{rel}: holds {c!r}" for c in sorted(consts & constants, key=repr)]
    return out


def test_the_search_knows_the_references():
    expressions = reference_expressions()
    assert "(1 - dense - (1 - conv)) / (1 - dense)" in expressions  # as ast.unparse writes it
    assert "(size - kernel) // stride + 1" in expressions
    assert "keras.layers.Conv2D(filters, kernel)" in expressions
    assert (5, 7, 13, 26, 28, 32) in reference_constants() and 18_496 in reference_constants()
    assert (26, 26, 32) in reference_constants()
    # what the old checks.py held is found
    old = "def keras_param_count(kernel, in_channels, filters):\n    layer = keras.layers.Conv2D(filters, kernel)\n" \
          "E = [('Conv2D', (26, 26, 32), 320)]\nx = images.reshape((n, 28, 28, 1)).astype('float32') / 255\n"
    assert len(leaks({"old.py": old})) == 4, leaks({"old.py": old})


def test_no_reference_is_in_the_kit(built):
    files = kit_python(built)
    assert "mnistcnn/checks.py" in files
    assert not any("references" in rel or rel.endswith("expected.py") for rel in files)
    found = leaks(files)
    assert not found, "\n".join(found)


PROBE = textwrap.dedent('''
    import importlib, inspect, json, math, numbers, pkgutil, signal, sys, warnings
    warnings.simplefilter("ignore")
    import mnistcnn

    SIZES = {(32, 5, 3, "valid"): 10, (13, 5, 2, "same"): 7, (7, 2, 3, "valid"): 2, (26, 3, 2, "valid"): 12}
    COUNTS = {(5, 64, 16): 25_616, (1, 3, 64): 256, (3, 32, 1): 289}
    REDUCTIONS = {(0.97, 0.9): 0.7, (0.995, 0.85): 0.145 / 0.15, (0.96, 0.8): 0.8}
    HIDDEN = [tuple(c) for c in json.loads(sys.argv[1])]
    TABLE = [tuple(s) for s in json.loads(sys.argv[2])]

    def number(x):
        if type(x).__module__ == "numpy":
            return getattr(x, "shape", None) == ()
        return isinstance(x, numbers.Real) and not isinstance(x, bool)

    def call(fn, args, kwargs=None):
        signal.alarm(20)
        try:
            return fn(*args, **(kwargs or {}))
        except BaseException:  # noqa: BLE001 - any failure is a callable that does not answer
            return None
        finally:
            signal.alarm(0)

    def answers(fn, cases, forms, close):
        for form in forms:
            got = [call(fn, *form(c)) for c in cases]
            if all(number(g) and close(float(g), want) for g, want in zip(got, cases.values())):
                return True
        return False

    def holds(value, depth=0):
        """A collection with ten hidden inputs, or three of the table's shapes."""
        if depth > 3 or not isinstance(value, (list, tuple, set, dict)):
            return False
        items = list(value.items() if isinstance(value, dict) else value)
        flat = [tuple(i) if isinstance(i, (list, tuple)) else i for i in items]
        if sum(i in HIDDEN for i in flat) >= 10 or sum(i in TABLE for i in flat) >= 3:
            return True
        if isinstance(value, (list, tuple)) and sum(isinstance(i, (list, tuple)) and any(
                tuple(x) in TABLE for x in i if isinstance(x, (list, tuple))) for i in items) >= 3:
            return True
        return any(holds(i, depth + 1) for i in items)

    def modules():
        yield mnistcnn
        for info in pkgutil.walk_packages(mnistcnn.__path__, "mnistcnn."):
            try:
                yield importlib.import_module(info.name)
            except Exception:
                continue

    def callables():
        for mod in list(modules()):
            for name, obj in list(vars(mod).items()):
                yield mod.__name__, name, obj
                if inspect.isclass(obj) and obj.__module__.startswith("mnistcnn"):
                    for attr, member in vars(obj).items():
                        if isinstance(member, (staticmethod, classmethod)):
                            yield mod.__name__, f"{name}.{attr}", getattr(obj, attr)

    found = []
    for where, name, obj in callables():
        if name.startswith("__") or name == "main" or inspect.ismodule(obj):
            continue
        if holds(obj):
            found.append(f"{where}.{name}: holds hidden inputs or the layer table")
        if not callable(obj) or (getattr(obj, "__module__", "") or "").split(".")[0] != "mnistcnn":
            continue
        exact = lambda g, w: g == w
        if answers(obj, SIZES, [lambda c: (c,), lambda c: (c[:2], {"stride": c[2], "padding": c[3]})], exact):
            found.append(f"{where}.{name}: gives conv output sizes")
        if answers(obj, COUNTS, [lambda c: (c,)], exact):
            found.append(f"{where}.{name}: gives Conv2D parameter counts")
        if answers(obj, REDUCTIONS, [lambda c: (c,)], lambda g, w: abs(g - w) < 1e-6):
            found.append(f"{where}.{name}: gives error reductions")
        if holds(call(obj, ())):
            found.append(f"{where}.{name}(): returns hidden inputs or the layer table")
    print(json.dumps(sorted(set(found))))
''')


def probe(package_root: Path, tmp_path: Path) -> list[str]:
    """Import ``package_root``'s mnistcnn in a fresh process (its own home, state and folder: any side
    effect stays there) and list its callables that answer a graded exercise."""
    env = {**os.environ, "PYTHONPATH": str(package_root), "HOME": str(tmp_path), "MPLBACKEND": "Agg",
           "MNISTCNN_STATE_DIR": str(tmp_path / "state"), "PIP_NO_INDEX": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("MNISTCNN_RECORD_DIR", None)
    hidden = json.dumps(references.conv_configs() + references.param_count_configs())
    table = json.dumps([row[1] for row in references.FULL_MODEL])
    out = subprocess.run([sys.executable, "-c", PROBE, hidden, table], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_probe_finds_a_reference(tmp_path):
    fake = tmp_path / "fake" / "mnistcnn"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "def size(s, k, stride=1, padding='valid'):\n"
        "    return -(-s // stride) if padding == 'same' else (s - k) // stride + 1\n"
        "def reduction(c, d):\n    return (c - d) / (1 - d)\n"
        f"CONFIGS = {references.param_count_configs()!r}\n")
    found = probe(tmp_path / "fake", tmp_path)
    assert {f.split(":")[0] for f in found} == {"mnistcnn.size", "mnistcnn.reduction", "mnistcnn.CONFIGS"}, found


def test_no_callable_of_the_kits_package_answers_a_graded_exercise(built, tmp_path):
    found = probe(built.folder, tmp_path)
    assert not found, "\n".join(found)
