"""The red-team corpus: hostile and broken submissions, each with the outcome the grader must give.

    python -m autograder.redteam OUT          # write the corpus (OUT/class/ and OUT/archive.zip)
    python -m autograder.redteam --table OUT  # also grade it there and write docs/redteam.md (make redteam)

Every case is made from the student version (``notebooks/``) with the answers filled in, then
changed the way a student could change it. Most cases hand in only the notebook they need (the
others count as missing), so the corpus grades in minutes. ``tests/test_redteam.py`` grades the whole
corpus as one class, with tight limits, next to an honest student, and checks every case's score,
its line in the feedback and the report, and that nothing else changed. ``docs/redteam.md`` is the
table of cases with the expected and the observed outcome (``make redteam`` writes it).

A case's ``expect`` gives the points per notebook handed in (a notebook not handed in gets 0);
``note`` is a piece of text that must be in the student's notes (feedback and class report).
"""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import release

# Limits for grading the corpus (tests/test_redteam.py, make redteam): tight, so that hostile
# cases end quickly, but with room for the honest parts.
CORPUS_LIMITS = {"wall": 300, "memory_gib": 3.0, "disk_mib": 200, "nproc": 256, "output_mib": 1}
CELL_TIMEOUT = 180
MARK = "MNISTCNN-REDTEAM"  # in the command line of processes a case leaves behind


@dataclass
class Case:
    name: str
    what: str
    expect: dict  # notebook -> points
    note: str | None = None  # text in the student's notes
    kind: str = "folder"  # folder: a student folder; archive: an entry of archive.zip
    extra: dict = field(default_factory=dict)  # what the test checks besides the score
    build: object = None  # callable(Path student_folder, dict solved, dict ctx)


def _nb(solved: dict, name: str):
    return nbformat.from_dict(json.loads(json.dumps(solved[name])))


def _find(nb, gid: str) -> int:
    for i, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == gid:
            return i
    raise KeyError(gid)


def _set(nb, gid: str, source: str) -> None:
    nb.cells[_find(nb, gid)].source = source


def _insert_after(nb, gid: str, source: str) -> None:
    nb.cells.insert(_find(nb, gid) + 1, nbformat.v4.new_code_cell(source))


def _write(folder: Path, name: str, nb) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{name}.ipynb")


def hostile_nb1(code: str):
    """Notebook 1, solved, with ``code`` in a cell of its own after the first test: 3 points are
    earned before it runs; whatever it does may cost the 3 after it, never anything else."""

    def build(folder, solved, ctx):
        nb = _nb(solved, "01_data")
        _insert_after(nb, "test_preprocess_images", code.format(**ctx))
        _write(folder, "01_data", nb)

    return build


def nb1_edit(edit):
    def build(folder, solved, ctx):
        nb = _nb(solved, "01_data")
        edit(nb)
        _write(folder, "01_data", nb)

    return build


WRONG_SCALE = 'return images.reshape((len(images), 28, 28, 1)).astype("float32")'  # forgot / 255


def _wrong_scale(nb):
    _set(nb, "preprocess_images", 'def preprocess_images(images):\n    ' + WRONG_SCALE)


# Notebook 3's training, evaluation and dense cells are locked (nbgrader puts them back as released),
# so a cheat lives where a student may write: in the answer compile_model, which gets the model
# before it is trained. CHEAP_FIT trains on 640 images instead of 60,000 (5 epochs, so the history
# is complete): a cheat needs no good model, and the grader must find the model is not good.
FAKE_EVALUATE = 'lambda *a, **k: {"loss": 0.01, "accuracy": 0.995} if k.get("return_dict") else [0.01, 0.995]'
CHEAP_FIT = """fit = model.fit
model.fit = lambda x, y, **kw: fit(x[:640], y[:640], epochs=5, batch_size=64, validation_split=0.1, verbose=0)
"""
COMPILE = '''def compile_model(model, n_samples):
    """Compile for training on n_samples images: RMSprop with the course's schedule."""
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=recipe.learning_rate_schedule(n_samples)),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
{patch}    return model'''


def nb3(patch: str):
    """Notebook 3, solved, with ``patch`` (code run on the model) inside compile_model."""

    def build(folder, solved, ctx):
        nb = _nb(solved, "03_training")
        _set(nb, "compile_model", COMPILE.format(patch="".join(f"    {ln}\n" for ln in patch.splitlines())))
        _write(folder, "03_training", nb)

    return build


def _only(*names):
    def build(folder, solved, ctx):
        for n in names:
            _write(folder, n, _nb(solved, n))

    return build


def _raw(name: str, data: bytes):
    def build(folder, solved, ctx):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)

    return build


def _nbformat3(folder, solved, ctx):
    from nbformat import v3, v4  # noqa: F401 - v3's converter

    nb3 = nbformat.convert(_nb(solved, "01_data"), 3)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "01_data.ipynb").write_text(nbformat.writes(nb3, version=3))


def _other_assignment(folder, solved, ctx):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Homework 7: linear regression"),
                                         nbformat.v4.new_code_cell("print('my answer')")])
    _write(folder, "01_data", nb)


def _huge(folder, solved, ctx):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "01_data.ipynb", "wb") as f:
        f.truncate(60 * 1024 * 1024)  # sparse: 60 MB long, nothing on disk


def _symlink(folder, solved, ctx):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "01_data.ipynb").symlink_to(ctx["gradebook"])


def _odd_names(folder, solved, ctx):
    _write(folder, "01_data", _nb(solved, "01_data"))
    import os

    os.close(os.open(os.fsencode(str(folder)) + b"/notes-\xff\xfe.ipynb", os.O_CREAT | os.O_WRONLY, 0o644))
    (folder / ("x" * 240 + ".ipynb")).write_text("{}")


def _dup_first(nb):
    """A copy of the first test cell, grade_id and all, placed before the answers it tests."""
    copy = nbformat.from_dict(json.loads(json.dumps(nb.cells[_find(nb, "test_preprocess_images")])))
    copy.source = "pass  # always passes?"
    nb.cells.insert(1, copy)


def _move_last_test_to_top(nb):
    cell = nb.cells.pop(_find(nb, "test_prepared_data"))
    nb.cells.insert(1, cell)


def _strip_metadata(nb):
    _set(nb, "encode_labels", "def encode_labels(labels):\n    return labels")
    nb.cells[_find(nb, "test_encode_labels")].metadata.pop("nbgrader")


def _strip_all_metadata(nb):
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)


def _markdown_test(nb):
    _set(nb, "encode_labels", "def encode_labels(labels):\n    return labels")
    i = _find(nb, "test_encode_labels")
    cell = nb.cells[i]
    nb.cells[i] = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)


def _delete_test(nb):
    nb.cells.pop(_find(nb, "test_encode_labels"))


def _edit_test(nb):
    _wrong_scale(nb)
    _set(nb, "test_preprocess_images", "pass  # the test, made harmless")


def _eq_true(folder, solved, ctx):
    nb = _nb(solved, "02_convnet")
    _set(nb, "read_summary", '''class Anything:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __hash__(self):
        return 0

def read_summary():
    """Return (output_shapes, param_counts): two lists with one entry per layer of the base."""
    return [Anything()] * 5, [Anything()] * 5''')
    _write(folder, "02_convnet", nb)


READ_SECRETS = '''import glob, os
targets = {targets!r} + glob.glob(os.path.join(os.getcwd(), "..", "*", "*.ipynb")) + glob.glob("*.ipynb")
leaked = []
for path in targets:
    try:
        with open(path, "rb") as f:
            if f.read(64):
                leaked.append(path)
    except OSError as exc:
        print("refused:", path, type(exc).__name__)
print("LEAKED:" if leaked else "nothing readable", leaked)'''

DESTROY = '''import os, shutil, subprocess
for path in {targets!r} + [os.path.expanduser("~")]:
    shutil.rmtree(path, ignore_errors=True)
    try:
        os.remove(path)
    except OSError:
        pass
subprocess.run(["rm", "-rf", "--no-preserve-root", "/"], capture_output=True)
open("/tmp/mnistcnn-redteam-escape", "w").write("x")  # the sandbox's own /tmp, not the machine's
for path in {writes!r}:
    try:
        with open(path, "w") as f:
            f.write("overwritten by a student")
        print("WROTE:", path)
    except OSError as exc:
        print("refused:", path, type(exc).__name__)'''

NETWORK = '''import socket, urllib.request
for host, port in [("1.1.1.1", 80), ("8.8.8.8", 53), ("pypi.org", 443)]:
    try:
        socket.create_connection((host, port), timeout=3)
        print("CONNECTED:", host)
    except OSError as exc:
        print("no network:", host, exc)
try:
    urllib.request.urlopen("http://example.com", timeout=3)
    print("CONNECTED: example.com")
except Exception as exc:
    print("no network: example.com", type(exc).__name__)'''


# ------------------------------------------------------------------ tampering with the kernel
# A student who knows Python and IPython, with answers left blank, makes the test cells pass in
# the kernel. The grader judges what each test handed over, outside the kernel: the blank answers
# get 0 with a note, the honest answers of the same notebook keep their points.

BLANK = "raise NotImplementedError()"
NO_WORK = "return None  # no work done"


def tampered(name: str, answers: dict):
    """A solved notebook ``name`` with some answer cells replaced: {grade_id: source}."""

    def build(folder, solved, ctx):
        nb = _nb(solved, name)
        for gid, source in answers.items():
            _set(nb, gid, source)
        _write(folder, name, nb)

    return build


PATCH_CHECKS = """from mnistcnn import checks
checks.check_labels = lambda *a, **k: print("✓ Encoded labels: one-hot rows of 10")

def encode_labels(labels):
    """ + NO_WORK

REBIND_NAMES = """class _Passes:
    def __getattr__(self, name):
        return lambda *a, **k: None

checks = _Passes()  # every later test cell calls this instead of the course's checks

def conv_param_count(kernel, in_channels, filters):
    """ + NO_WORK

SYS_MODULES = """import sys, types
import mnistcnn
fake = types.ModuleType("mnistcnn.checks")
fake.__getattr__ = lambda name: (lambda *a, **k: None)
sys.modules["mnistcnn.checks"] = mnistcnn.checks = fake
from mnistcnn import checks

def conv_param_count(kernel, in_channels, filters):
    """ + NO_WORK

INPUT_TRANSFORMER = """def _no_tests(lines):
    return [] if any("checks." in line for line in lines) else lines

get_ipython().input_transformers_post.append(_no_tests)

def encode_labels(labels):
    """ + NO_WORK

EXCEPTION_HOOK = """import ast

class _SwallowErrors(ast.NodeTransformer):  # every later cell runs inside try: ... except: pass
    def visit_Module(self, node):
        handler = ast.ExceptHandler(type=ast.Name("BaseException", ast.Load()), name=None, body=[ast.Pass()])
        node.body = [ast.Try(body=node.body or [ast.Pass()], handlers=[handler], orelse=[], finalbody=[])]
        return ast.fix_missing_locations(node)

get_ipython().ast_transformers.append(_SwallowErrors())
get_ipython().set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: [])

def encode_labels(labels):
    """ + NO_WORK

PATCH_NUMPY = """np.allclose = lambda *a, **k: True  # the check compares with np.allclose

def preprocess_images(images):
    return images.reshape((len(images), 28, 28, 1)).astype("float32") / 256"""

PATCH_BUILTIN = """import builtins
builtins.abs = lambda x: 0  # every difference looks like zero

def error_reduction(conv_accuracy, dense_accuracy):
    return 0.5"""

FORGE_EVIDENCE = """from mnistcnn import checks, evidence

def _forged(y, labels):
    zeros = np.zeros((len(labels), 10), "float32")
    evidence.save("labels", input=evidence.fingerprint(labels), output={"array": evidence.describe_array(zeros)})

checks.check_labels = _forged

def encode_labels(labels):
    """ + NO_WORK

OVERSIZED_EVIDENCE = """import json, os
from mnistcnn import checks, evidence

def _oversized(y, labels):
    folder = evidence.folder()
    os.makedirs(folder, exist_ok=True)
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000, 10), }"
    with open(os.path.join(folder, "0900-labels-x.npy"), "wb") as f:
        f.write(b"\\x93NUMPY\\x01\\x00" + len(header.ljust(118) + "\\n").to_bytes(2, "little")
                + (header.ljust(118) + "\\n").encode())
    record = {"kind": "labels", "seq": 900, "fields": {"input": evidence.fingerprint(labels),
              "output": {"array": {"values": {"$npy": "0900-labels-x.npy"}}}}}
    with open(os.path.join(folder, "0900-labels.json"), "w") as f:
        json.dump(record, f)
    for i in range(100):  # and a flood of files
        open(os.path.join(folder, f"{1000 + i}-labels.json"), "w").write("{}")

checks.check_labels = _oversized

def encode_labels(labels):
    """ + NO_WORK

EVIDENCE_LINK = """import os
from mnistcnn import checks, evidence

def _linked(y, labels):
    os.makedirs(evidence.folder(), exist_ok=True)
    os.symlink("/etc/passwd", os.path.join(evidence.folder(), "0900-labels.json"))

checks.check_labels = _linked

def encode_labels(labels):
    """ + NO_WORK

MODEL_BOMB = """import json, os, zipfile
from mnistcnn import checks, evidence

def _bomb(builder):  # a model file whose layer asks for billions of weights when it is rebuilt
    folder = evidence.folder()
    os.makedirs(folder, exist_ok=True)
    small = keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(), layers.Dense(10)])
    small.save("/tmp/small.keras")
    with zipfile.ZipFile("/tmp/small.keras") as z:
        config, meta = json.loads(z.read("config.json")), z.read("metadata.json")
    config["config"]["layers"][-1]["config"]["units"] = 2_000_000
    with zipfile.ZipFile(os.path.join(folder, "0900-model-model.keras"), "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("metadata.json", meta)
    with open(os.path.join(folder, "0900-model.json"), "w") as f:
        json.dump({"kind": "model", "seq": 900, "fields": {"model": {"$keras": "0900-model-model.keras"}}}, f)

checks.check_full_model = _bomb
checks.check_new_model_each_call = lambda builder: None

def build_model():
    """ + NO_WORK

VERDICT_NOTE = "failed the grader's own check"


CASES = [
    Case("honest", "an honest student: notebooks 1 and 2 right (the control: its grades must not move)",
         {"01_data": 6, "02_convnet": 13}, build=_only("01_data", "02_convnet")),
    # ------------------------------------------------------------------ cheating on the accuracy test
    Case("hardcoded_accuracy", "no training at all; model.evaluate returns 99.5 %, so the notebook prints 99.50 %",
         {"03_training": 5}, "test accuracy measured outside your notebook",
         build=nb3("model.fit = lambda *a, **k: None\nmodel.evaluate = " + FAKE_EVALUATE)),
    Case("trains_on_test_set", "model.fit patched to train on the test images instead (15 epochs: 99.6 % on them)",
         {"03_training": 8}, "trained on the test set",
         build=nb3("fit = model.fit\nmodel.fit = lambda x, y, **kw: fit(x_test, y_test, **{**kw, 'epochs': 15})")),
    Case("patch_evaluate", "trains on 640 images; model.evaluate patched to return 99.5 %",
         {"03_training": 8}, "test accuracy measured outside your notebook",
         build=nb3(CHEAP_FIT + "model.evaluate = " + FAKE_EVALUATE)),
    Case("patch_predict", "trains on 640 images; model.predict patched to return the true labels",
         {"03_training": 8}, "no trained model reached the grader",
         build=nb3(CHEAP_FIT + "model.predict = lambda x, **k: y_test[:len(x)]")),
    Case("patch_argmax", "trains on 640 images; numpy.argmax patched to return the true labels",
         {"03_training": 8}, "no trained model reached the grader",
         build=nb3(CHEAP_FIT + "np.argmax = lambda a, axis=None, **k: test_labels[:len(a)]")),
    Case("patch_keras", "trains on 640 images; keras.Model.evaluate and keras.models.load_model patched",
         {"03_training": 8}, "test accuracy measured outside your notebook",
         build=nb3(CHEAP_FIT + "keras.Model.evaluate = lambda self, *a, **k: [0.01, 0.995] if not k.get('return_dict') "
                   "else {'loss': 0.01, 'accuracy': 0.995}\n"
                   "keras.models.load_model = lambda *a, **k: model")),
    Case("patch_print", "trains on 640 images; print patched to show 99.50 % whatever is printed",
         {"03_training": 8}, "no trained model reached the grader",
         build=nb3(CHEAP_FIT + "import builtins\n_print = builtins.print\n"
                   "builtins.print = lambda *a, **k: _print('test accuracy: 99.50%')")),
    Case("patch_grader", "trains on 640 images; the course's accuracy check and measurement patched in the kernel",
         {"03_training": 8}, "no trained model reached the grader",
         build=nb3(CHEAP_FIT + "import mnistcnn.checks, mnistcnn.grading\n"
                   "model.evaluate = " + FAKE_EVALUATE + "\n"
                   "mnistcnn.grading.test_accuracy = lambda *a, **k: 0.995\n"
                   "mnistcnn.checks.check_test_accuracy = lambda *a, **k: None")),
    Case("hide_tracebacks", "IPython's traceback display switched off, with a wrong answer (no scaling)",
         {"01_data": 2}, None, extra={"evidence": "showtraceback was disabled"},
         build=nb1_edit(lambda nb: (_wrong_scale(nb), nb.cells.insert(
             1, nbformat.v4.new_code_cell("get_ipython().showtraceback = lambda *a, **k: None\n"
                                          "get_ipython()._showtraceback = lambda *a, **k: None"))))),
    Case("eq_always_true", "read_summary returns objects whose == is always true",
         {"02_convnet": 11}, None, extra={"evidence": "a tuple of integers"}, build=_eq_true),
    # ------------------------------------------------------------------ tampering with the kernel
    Case("tamper_patch_checks", "encode_labels blank; the course's check_labels replaced by a function that prints ✓",
         {"01_data": 3}, VERDICT_NOTE, build=tampered("01_data", {"encode_labels": PATCH_CHECKS})),
    Case("tamper_rebind_names", "conv_param_count and the rest blank; the name `checks` rebound to an object whose "
         "every method passes", {"02_convnet": 2}, VERDICT_NOTE,
         build=tampered("02_convnet", {"conv_param_count": REBIND_NAMES, "build_conv_base": BLANK,
                                       "read_summary": BLANK, "build_model": BLANK})),
    Case("tamper_sys_modules", "conv_param_count and the rest blank; mnistcnn.checks replaced in sys.modules by a "
         "module whose every function passes", {"02_convnet": 2}, VERDICT_NOTE,
         build=tampered("02_convnet", {"conv_param_count": SYS_MODULES, "build_conv_base": BLANK,
                                       "read_summary": BLANK, "build_model": BLANK})),
    Case("tamper_input_transformer", "encode_labels blank; an IPython input transformer empties every later cell "
         "that calls the checks", {"01_data": 3}, VERDICT_NOTE,
         build=tampered("01_data", {"encode_labels": INPUT_TRANSFORMER})),
    Case("tamper_exception_hook", "encode_labels blank; an IPython AST transformer wraps every later cell in "
         "try/except and a custom exception handler hides tracebacks, so failing tests report no error",
         {"01_data": 3}, VERDICT_NOTE,
         build=tampered("01_data", {"encode_labels": EXCEPTION_HOOK})),
    Case("tamper_patch_numpy", "preprocess_images divides by 256; numpy.allclose, which the check uses, patched to "
         "say True", {"01_data": 2}, VERDICT_NOTE, build=tampered("01_data", {"preprocess_images": PATCH_NUMPY})),
    Case("tamper_patch_builtin", "error_reduction returns 0.5; the built-in abs patched to return 0 (compile_model "
         "blank, so nothing trains)", {"03_training": 1}, VERDICT_NOTE,
         build=tampered("03_training", {"error_reduction": PATCH_BUILTIN, "compile_model": BLANK})),
    Case("tamper_forged_evidence", "encode_labels blank; check_labels replaced by one that writes evidence in the "
         "course's own format, for the test's inputs, with made-up labels", {"01_data": 3}, VERDICT_NOTE,
         build=tampered("01_data", {"encode_labels": FORGE_EVIDENCE})),
    Case("tamper_oversized_evidence", "encode_labels blank; the check writes an array file claiming 10⁹ rows and a "
         "flood of 100 files", {"01_data": 3}, "evidence refused",
         build=tampered("01_data", {"encode_labels": OVERSIZED_EVIDENCE})),
    Case("tamper_model_bomb", "build_model blank; the check replaced by one that hands over a model file whose "
         "layer asks for 1.5 billion weights when the grader rebuilds it", {"02_convnet": 9}, VERDICT_NOTE,
         build=tampered("02_convnet", {"build_model": MODEL_BOMB})),
    Case("tamper_evidence_link", "encode_labels blank; the check puts a symbolic link to /etc/passwd where its "
         "evidence goes", {"01_data": 3}, "not a plain file",
         build=tampered("01_data", {"encode_labels": EVIDENCE_LINK})),
    # ------------------------------------------------------------------ test cells changed
    Case("edited_test", "wrong answer, and its test cell replaced by `pass`",
         {"01_data": 2}, "was edited; the original test was run", build=nb1_edit(_edit_test)),
    Case("deleted_test", "a test cell deleted (answers right)",
         {"01_data": 6}, "put the original test back", build=nb1_edit(_delete_test)),
    Case("reordered", "the last test cell moved to the top, before the answers",
         {"01_data": 5}, "not in their original order", build=nb1_edit(_move_last_test_to_top)),
    Case("duplicate_grade_id", "a copy of a graded cell (same grade_id, source `pass`) put before the answers",
         {"01_data": 3}, "appears 2 times", build=nb1_edit(_dup_first)),
    Case("cell_type_changed", "wrong answer, and its test cell turned into Markdown",
         {"01_data": 3}, "changed from code to markdown", build=nb1_edit(_markdown_test)),
    Case("metadata_removed", "wrong answer, and the nbgrader metadata of its test cell removed",
         {"01_data": 3}, "is missing", build=nb1_edit(_strip_metadata)),
    Case("all_metadata_removed", "every cell's nbgrader metadata removed",
         {"01_data": 0}, "none of the graded cells", build=nb1_edit(_strip_all_metadata)),
    # ------------------------------------------------------------------ the kernel and the machine
    Case("infinite_loop", "an endless loop in a cell of its own",
         {"01_data": 6}, "was interrupted", build=hostile_nb1("while True:\n    pass")),
    Case("infinite_loop_no_interrupt", "an endless loop that ignores interrupts",
         {"01_data": 3}, "did not stop when interrupted",
         build=hostile_nb1("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass")),
    Case("sys_exit", "sys.exit() (IPython catches it; the notebook goes on)",
         {"01_data": 6}, None, extra={"evidence": "SystemExit"}, build=hostile_nb1("import sys\nsys.exit(3)")),
    Case("os_exit", "os._exit(): the kernel process ends",
         {"01_data": 3}, "kernel stopped", build=hostile_nb1("import os\nos._exit(0)")),
    Case("kill_own_kernel", "os.kill() of its own kernel",
         {"01_data": 3}, "kernel stopped",
         build=hostile_nb1("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")),
    Case("memory_bomb", "allocates memory until something breaks",
         {"01_data": 3}, "memory limit",
         build=hostile_nb1("blocks = []\nwhile True:\n    blocks.append(bytearray(256 * 2**20))")),
    Case("fork_bomb", "a fork bomb",
         {"01_data": 3}, "processes and threads",
         build=hostile_nb1("import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', "
                           "'import os\\nwhile True:\\n    try: os.fork()\\n    except OSError: pass'])\n"
                           "time.sleep(60)")),
    Case("fill_disk", "writes one file until the disk is full",
         {"01_data": 3}, "disk limit",
         build=hostile_nb1("with open('fill.bin', 'wb') as f:\n    while True:\n        f.write(b'0' * 2**24)")),
    Case("print_gigabytes", "prints without end",
         {"01_data": 3}, "of output",
         build=hostile_nb1("line = 'x' * 100_000\nwhile True:\n    print(line, flush=True)")),
    Case("network", "tries the network (sockets, a download)",
         {"01_data": 6}, None, extra={"output_lacks": "CONNECTED", "evidence": "no network:"},
         build=hostile_nb1(NETWORK)),
    Case("read_secrets", "reads the hidden tests, the gradebook, another student's notebook, the home folder",
         {"01_data": 6}, None, extra={"output_lacks": "LEAKED:", "evidence": "nothing readable"},
         build=hostile_nb1(READ_SECRETS.replace("{targets!r}", "{read_targets!r}"))),
    Case("destroy_files", "rm -rf of the home folder, the course and the grading folder; overwrites files",
         {"01_data": 6}, None, extra={"output_lacks": "WROTE:", "evidence": "refused:"},
         build=hostile_nb1(DESTROY.replace("{targets!r}", "{delete_targets!r}").replace("{writes!r}",
                                                                                       "{write_targets!r}"))),
    Case("leftover_process", "starts processes meant to outlive the notebook (a new session; nohup … &)",
         {"01_data": 6}, "running on their own", extra={"no_process": MARK},
         build=hostile_nb1(f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', "
                           f"'import time; time.sleep(3600)', '{MARK}'], start_new_session=True)\n"
                           f"subprocess.Popen(sys.executable + \" -c 'import time; time.sleep(3600)' {MARK}-2 &\", "
                           "shell=True)")),
    # ------------------------------------------------------------------ malformed input
    Case("invalid_json", "01_data.ipynb cut off in the middle (invalid JSON)",
         {"01_data": 0}, "invalid JSON", build=_raw("01_data.ipynb", b'{"cells": [{"cell_type": "co')),
    Case("nbformat3", "01_data.ipynb saved in notebook format 3", {"01_data": 0}, "format 3", build=_nbformat3),
    Case("empty_file", "01_data.ipynb of 0 bytes", {"01_data": 0}, "is empty", build=_raw("01_data.ipynb", b"")),
    Case("not_utf8", "01_data.ipynb in Latin-1, not UTF-8", {"01_data": 0}, "not UTF-8",
         build=_raw("01_data.ipynb", '{"cells": [], "nbformat": 4, "x": "é"}'.encode("latin-1"))),
    Case("wrong_name", "the notebook handed in as data.ipynb", {}, "not a notebook of the assignment",
         build=lambda folder, solved, ctx: _write(folder, "data", _nb(solved, "01_data"))),
    Case("other_assignment", "another assignment's notebook named 01_data.ipynb", {"01_data": 0},
         "none of the graded cells", build=_other_assignment),
    Case("huge_file", "a 60 MB file named 01_data.ipynb", {}, "larger than", build=_huge),
    Case("symlink", "01_data.ipynb is a symbolic link to the gradebook", {}, "symbolic link", build=_symlink),
    Case("odd_file_names", "extra files with a non-UTF-8 name and a 240-character name, next to a right notebook",
         {"01_data": 6}, "not a notebook of the assignment", build=_odd_names),
]

# Entries of archive.zip (an LMS download): a right notebook for one student, and hostile entries.
ARCHIVE_CASES = [
    Case("zip_honest", "zipped student folder with a right notebook 1", {"01_data": 6}, kind="archive"),
    Case("zip_slip", "an entry named ../../escaped.ipynb", {}, "outside the archive", kind="archive",
         extra={"entry": "../../escaped.ipynb", "no_file": "escaped.ipynb"}),
    Case("zip_absolute", "an entry with an absolute path /tmp/…", {}, "outside the archive", kind="archive",
         extra={"entry": "/tmp/mnistcnn-redteam-absolute.ipynb", "no_file": "/tmp/mnistcnn-redteam-absolute.ipynb"}),
    Case("zip_symlink", "a symbolic link entry pointing at /etc/passwd", {}, "symbolic link refused", kind="archive",
         extra={"entry": "zip_symlink/01_data.ipynb"}),
    Case("zip_long_name", "an entry with a 300-character file name", {}, "could not be unpacked", kind="archive",
         extra={"entry": "zip_long/" + "y" * 300 + ".ipynb"}),
    Case("zip_huge", "an entry of 60 MB (zeros, 60 kB compressed)", {}, "refused (limit", kind="archive",
         extra={"entry": "zip_huge/01_data.ipynb"}),
    Case("zip_non_utf8_name", "an entry whose name is not UTF-8 (cp437 bytes, as old Windows tools write)",
         {}, "not a notebook of the assignment", kind="archive",
         extra={"entry": "zip_odd/café.ipynb", "student": "zip_odd"}),
]


def context(ws: Path, home: Path) -> dict:
    """Paths the hostile cases aim at (absolute: they are where a real attacker would look)."""
    root = release.ROOT
    return {
        "gradebook": str(ws / "gradebook.db"),
        "read_targets": [str(root / "solutions" / "convnet" / "01_data.ipynb"), str(ws / "gradebook.db"),
                         str(ws / "submitted" / "honest" / "convnet" / "01_data.ipynb"),
                         str(home / "canary.txt"), "/etc/shadow", "/root/.bash_history"],
        "delete_targets": [str(root / "solutions"), str(root / "mnistcnn"), str(ws), str(home)],
        "write_targets": [str(root / "mnistcnn" / "__init__.py"), str(ws / "gradebook.db"),
                          str(home / "canary.txt"), "/usr/lib/os-release"],
    }


def build(out: Path, ws: Path, home: Path) -> dict:
    """Write the corpus: ``out/class/<case>/`` and ``out/archive.zip``; returns {"class":…, "archive":…}."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    solved_dir = release.solved_copy(out / "_solved")
    solved = {p.stem: nbformat.read(p, as_version=4) for p in sorted(solved_dir.glob("*.ipynb"))}
    ctx = context(Path(ws), Path(home))
    for case in CASES:
        case.build(out / "class" / case.name, solved, ctx)

    archive = out / "archive.zip"
    good = nbformat.writes(solved["01_data"]).encode()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zip_honest/01_data.ipynb", good)
        for case in ARCHIVE_CASES[1:]:
            entry = case.extra["entry"]
            if case.name == "zip_symlink":
                info = zipfile.ZipInfo(entry)
                info.external_attr = (0o120777 << 16)
                zf.writestr(info, "/etc/passwd")
            elif case.name == "zip_huge":
                info = zipfile.ZipInfo(entry)
                with zf.open(info, "w", force_zip64=True) as f:
                    for _ in range(60):
                        f.write(b"\0" * 2**20)
            elif case.name == "zip_non_utf8_name":
                info = zipfile.ZipInfo(entry)
                info.flag_bits &= ~0x800  # stored as cp437, as old Windows tools write it
                zf.writestr(info, good)
            else:
                zf.writestr(entry, good)
    shutil.rmtree(solved_dir)
    return {"class": out / "class", "archive": archive}


def observed(ws: Path, case: Case) -> dict:
    """What the grader did with a case: points per notebook, notes, the status."""
    from autograder.intake import slug

    student = slug(case.extra.get("student") or case.name)
    path = Path(ws) / "results" / f"{student}.json"
    if not path.exists():
        return {"graded": False}
    r = json.loads(path.read_text())
    points = {nb: sum(g["auto_score"] or 0 for g in cells.values()) for nb, cells in r.get("grades", {}).items()}
    return {"graded": r.get("status") == "ok", "points": points, "score": r.get("score"),
            "notes": [i["text"] for i in r.get("incidents", [])], "accuracy": r.get("accuracy"),
            "accuracy_note": r.get("accuracy_note"), "error": r.get("error")}


def output_lines(ws: Path, case: Case) -> list[str]:
    """Every line of output (streams, results, errors) of the case's graded notebooks; not their code."""
    from autograder.intake import slug

    lines = []
    for path in sorted((Path(ws) / "autograded" / slug(case.extra.get("student") or case.name)).rglob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for out in cell.get("outputs", []):
                data = out.get("data", {}).get("text/plain", "")
                text = "\n".join([out.get("text", ""), data if isinstance(data, str) else "".join(data),
                                  f"{out.get('ename', '')}: {out.get('evalue', '')}", *out.get("traceback", [])])
                lines += [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines


def evidence(ws: Path, case: Case) -> str | None:
    """The first line of the graded notebooks' outputs holding ``case.extra["evidence"]``: what the
    student's own notebook shows of an attempt that the sandbox or a check refused."""
    want = case.extra.get("evidence")
    return next((line[:160] for line in output_lines(ws, case) if want and want in line), None)


def outcome_text(case: Case, obs: dict | None = None) -> tuple[str, str]:
    exp = ", ".join(f"{nb} {pts:g}" for nb, pts in case.expect.items()) or "nothing usable"
    exp = f"{sum(case.expect.values()):g} points ({exp})" + (f"; note: “{case.note}”" if case.note else "") + (
        f"; the notebook shows “{case.extra['evidence']}”" if case.extra.get("evidence") else "")
    if obs is None:
        return exp, ""
    if not obs.get("graded"):
        return exp, "not graded: " + str(obs.get("error"))
    got = {nb: obs["points"].get(nb, 0) for nb in case.expect}
    total = obs.get("score")
    notes = [n for n in obs.get("notes", []) if not n.endswith("was not handed in: 0 points for its tests")]
    shown = "; ".join(notes)[:300]
    return exp, f"{total:g} points ({', '.join(f'{nb} {p:g}' for nb, p in got.items()) or '-'})" + (
        f"; notes: {shown}" if shown else "")


def write_table(ws: Path, path: Path, seconds: float | None = None, ws_zip: Path | None = None) -> Path:
    """docs/redteam.md: every case, what it does, the expected and the observed outcome."""
    lines = ["# The red-team corpus: expected and observed outcomes", "",
             "Generated by `make redteam` (`python -m autograder.redteam --table`); do not edit by hand. "
             "The same corpus is graded and checked by `tests/test_redteam.py` in `make test`.", "",
             f"Limits while grading the corpus (per notebook): wall {CORPUS_LIMITS['wall']} s, memory "
             f"{CORPUS_LIMITS['memory_gib']} GiB, disk {CORPUS_LIMITS['disk_mib']} MiB, "
             f"{CORPUS_LIMITS['nproc']} processes and threads, output {CORPUS_LIMITS['output_mib']} MiB, "
             f"{CELL_TIMEOUT} s per cell. Points are out of 32 (01_data 6, 02_convnet 13, 03_training 13); a "
             "notebook not handed in counts 0.", ""]
    if seconds is not None:
        lines += [f"Grading the whole corpus (both runs) took {seconds:.0f} s on a 2-core machine "
                  "(2 workers, 1 thread each).", ""]
    lines += ["| case | what the submission does | expected | observed | ok |", "| --- | --- | --- | --- | --- |"]
    for case in [*CASES, *ARCHIVE_CASES]:
        case_ws = ws_zip if case.kind == "archive" and ws_zip else ws
        obs = observed(case_ws, case)
        exp, got = outcome_text(case, obs)
        if case.kind == "archive" and not case.expect:
            entry = case.extra["entry"]
            got = "; ".join(u for u in unused_files(case_ws) if u.startswith(entry.split("/")[0])) or got
        if case.extra.get("evidence"):
            shown = evidence(case_ws, case)
            got += f"; the notebook's own output: “{shown}”" if shown else "; NO output showing the refusal"
        ok = matches(case, obs, case_ws) and (not case.extra.get("evidence") or evidence(case_ws, case) is not None)
        lines.append(f"| `{case.name}` | {case.what} | {exp} | {got.replace('|', '/')} | {'yes' if ok else 'NO'} |")
    lines += ["", "Besides the scores, `tests/test_redteam.py` checks after the run: the honest student's grades; "
              "the SHA-256 of every file of the course (solutions, notebooks, package, grader) and of a canary "
              "file in the grader's home; the gradebook holds every student and nothing else; no process "
              "left behind; no file written outside the grading folder; every case's line in its feedback "
              "and in the class report.", ""]
    Path(path).write_text("\n".join(lines))
    return Path(path)


def unused_files(ws: Path) -> list[str]:
    """The class run's files not used, with the reasons (run.json of the grading folder)."""
    try:
        return [f"{p}: {why}" for p, why in json.loads((Path(ws) / "run.json").read_text())["unmapped"]]
    except (OSError, ValueError, KeyError):
        return []


def matches(case: Case, obs: dict, ws: Path) -> bool:
    if case.kind == "archive" and not case.expect:
        if obs.get("graded") and sum(obs["points"].values()) != 0:
            return False
        return case.note is None or any(case.note in line for line in unused_files(ws) + obs.get("notes", []))
    if not obs.get("graded"):
        return False
    if any(abs(obs["points"].get(nb, 0) - pts) > 1e-9 for nb, pts in case.expect.items()):
        return False
    if abs((obs.get("score") or 0) - sum(case.expect.values())) > 1e-9:
        return False
    return case.note is None or any(case.note in n for n in obs.get("notes", []))


def grade_args() -> list[str]:
    """mnistcnn-grade's options for the corpus: two jobs of one thread, the corpus's limits."""
    lim = CORPUS_LIMITS
    return ["--workers", "2", "--threads", "1", "--wall-limit", str(lim["wall"]), "--memory-limit",
            str(lim["memory_gib"]), "--disk-limit", str(lim["disk_mib"]), "--nproc-limit", str(lim["nproc"]),
            "--output-limit", str(lim["output_mib"]), "--cell-timeout", str(CELL_TIMEOUT)]


def grade_corpus(out: Path, env: dict | None = None) -> dict:
    """Build the corpus under ``out`` and grade it (the class, then the archive); return the runs."""
    import os
    import subprocess
    import time

    out = Path(out)
    home = out / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "canary.txt").write_text("the instructor's own file\n")
    ws, ws_zip = out / "grading", out / "grading-zip"
    paths = build(out / "corpus", ws, home)
    grade = str(Path(sys.executable).with_name("mnistcnn-grade"))
    env = {**os.environ, "HOME": str(home), **(env or {})}
    runs, t0 = {}, time.perf_counter()
    for name, source, dest in (("class", paths["class"], ws), ("archive", paths["archive"], ws_zip)):
        print(f"grading the {name} of the red-team corpus ...", flush=True)
        proc = subprocess.run([grade, str(source), "--out", str(dest), *grade_args()], capture_output=True,
                              text=True, env=env, timeout=3000)
        (out / f"{name}.log").write_text(proc.stdout + proc.stderr)
        runs[name] = proc
    return {"ws": ws, "ws_zip": ws_zip, "home": home, "runs": runs, "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__)
        return 2
    out = Path(argv[-1])
    if "--table" in argv:  # build, grade, and write docs/redteam.md
        done = grade_corpus(out)
        table = write_table(done["ws"], release.ROOT / "docs" / "redteam.md", done["seconds"], done["ws_zip"])
        print(table.read_text())
        bad = [ln for ln in table.read_text().splitlines() if ln.endswith("| NO |")]
        print(f"{len(bad)} case(s) not as expected; logs in {out}")
        return 1 if bad else 0
    paths = build(out, out / "grading", out / "home")
    print(f"wrote {len(CASES)} students in {paths['class']} and {len(ARCHIVE_CASES)} entries in {paths['archive']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
