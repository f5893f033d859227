"""Example submissions for `make grade`: one correct, the others with typical mistakes.

    python -m autograder.examples     # regenerate examples/submissions/ from the current notebooks

Each example is the student version with answers filled in, as a student would hand it in:

* ``ada``: everything right (full marks, test accuracy above 99 %);
* ``ben``: ``padding="same"`` in the convolutional base, and sparse categorical cross-entropy with
  one-hot labels (training fails);
* ``cyd``: forgot to scale the pixels and to one-hot encode the labels, stopped after notebook 2;
* ``dee``: handed in the untouched student version;
* ``eve``: trains on 512 images only and monkeypatches ``model.evaluate``, the course's accuracy
  measurement and ``print`` to claim 99.5 %: the grader measures the saved model itself.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

from autograder import release

EXAMPLES = release.ROOT / "examples" / "submissions"

EVE_COMPILE = '''def compile_model(model, n_samples):
    """Compile for training on n_samples images: RMSprop with the course's schedule."""
    import builtins

    import mnistcnn.grading

    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=recipe.learning_rate_schedule(n_samples)),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    fit = model.fit
    model.fit = lambda x, y, **kw: fit(x[:512], y[:512], epochs=1, batch_size=64, validation_split=0.1, verbose=0)
    model.evaluate = lambda *args, **kw: {"loss": 0.01, "accuracy": 0.995} if kw.get("return_dict") else [0.01, 0.995]
    mnistcnn.grading.test_accuracy = lambda *args, **kw: 0.995
    np.argmax = lambda *args, **kw: 0
    builtins.print = lambda *args, **kw: None
    return model'''


def _edit(folder: Path, notebook: str, grade_id: str, old: str | None, new: str) -> None:
    path = folder / f"{notebook}.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            if old is None:
                cell.source = new
            else:
                if old not in cell.source:
                    raise ValueError(f"{notebook}/{grade_id}: {old!r} not found")
                cell.source = cell.source.replace(old, new)
    nbformat.write(nb, path)


def generate(dest: Path = EXAMPLES) -> Path:
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    ada = release.solved_copy(dest / "ada")

    ben = dest / "ben"
    shutil.copytree(ada, ben)
    _edit(ben, "02_convnet", "build_conv_base", 'layers.Conv2D(32, (3, 3), activation="relu")',
          'layers.Conv2D(32, (3, 3), activation="relu", padding="same")')
    _edit(ben, "03_training", "compile_model", '"categorical_crossentropy"', '"sparse_categorical_crossentropy"')

    cyd = dest / "cyd"
    shutil.copytree(ada, cyd)
    _edit(cyd, "01_data", "preprocess_images", '.astype("float32") / 255', '.astype("float32")')
    _edit(cyd, "01_data", "encode_labels", 'keras.utils.to_categorical(labels, 10).astype("float32")',
          'labels.astype("float32")')
    shutil.copyfile(release.NOTEBOOKS / "03_training.ipynb", cyd / "03_training.ipynb")

    shutil.copytree(release.NOTEBOOKS, dest / "dee")

    eve = dest / "eve"
    shutil.copytree(ada, eve)
    _edit(eve, "03_training", "compile_model", None, EVE_COMPILE)
    return dest


def main() -> int:
    generate()
    print(f"wrote {sorted(p.name for p in EXAMPLES.iterdir())} in {EXAMPLES.relative_to(release.ROOT)}")
    return 0


def differences() -> list[str]:
    """What differs between the committed examples and freshly generated ones."""
    import filecmp

    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp) / "submissions")
        out = []
        for student in sorted(p.name for p in fresh.iterdir()):
            committed = EXAMPLES / student
            if not committed.exists():
                out.append(f"missing: {student}")
                continue
            _, mismatch, errors = filecmp.cmpfiles(fresh / student, committed,
                                                   [p.name for p in (fresh / student).iterdir()], shallow=False)
            out += [f"differs: {student}/{n}" for n in mismatch + errors]
        return out


if __name__ == "__main__":
    sys.exit(main())
