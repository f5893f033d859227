# Convnets on MNIST: the course's one entry point. `make help` lists the targets.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help setup data lab test test-fast lint notebooks catalogs validate seeds grade examples bench redteam kit clean

help:
	@echo "make lab        set everything up, then open JupyterLab on the notebooks (EDITION=zh_CN: 简体中文)"
	@echo "make test       set everything up, then run the whole test suite (CI runs this)"
	@echo "make test-fast  the quick tests only (no training, no browser), under two minutes"
	@echo "make test-browser  the course in JupyterLab in headless Chromium (about two minutes)"
	@echo "make grade      grade the example submissions (or SOURCE=folder-or-zip): feedback, CSV, report"
	@echo "make notebooks  regenerate notebooks/ (student versions, English and zh_CN) from solutions/ with nbgrader"
	@echo "make catalogs   add new texts of the lessons and the code to the translation catalogs, drop vanished ones; list what is left"
	@echo "make validate   nbgrader validate: solutions pass, the student version fails cleanly (every language)"
	@echo "make kit        the students' kit: dist/convnet-kit/ and dist/convnet-kit.zip (KIT_ARGS=\"--language zh_CN\": the Chinese one)"
	@echo "make lint       ruff"
	@echo "make seeds      the test accuracy of the training recipe over 12 seeds (~15 min)"
	@echo "make redteam    grade the red-team corpus in the sandbox (~12 min): docs/redteam.md"
	@echo "make bench      training and grading speed against the matmul rate, the grader against its older revision (25-40 min): docs/benchmarks.md"
	@echo "make data       fetch and check the MNIST data"
	@echo "make clean      remove the virtual environment, the data cache and grading files"

# The virtual environment with the pinned packages, the package of the course, and the course's
# named Jupyter kernel and JupyterLab settings (mnistcnn/kernelspec.py, which the kit's course.py runs too).
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python >= 3.10 is needed, this is " + sys.version.split()[0]) if sys.version_info < (3, 10) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23.1"
	$(BIN)/python -m pip install --quiet --progress-bar off -e ".[dev]"
	$(BIN)/python -m mnistcnn.kernelspec
	@touch $(STAMP)

setup: $(STAMP) data

data: $(STAMP)
	@$(BIN)/python -c 'from mnistcnn.data import load_mnist; load_mnist(online=False)' 2>/dev/null \
		|| $(BIN)/python -m mnistcnn.data

# JupyterLab from the top of the course (nbgrader's Validate and formgrader read nbgrader_config.py
# there), on the first notebook of the edition (EDITION=zh_CN for the Chinese one): autograder/course/lab.py.
lab: setup
	$(BIN)/python -m autograder.course.lab $(if $(EDITION),--edition $(EDITION)) $(LAB_ARGS)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not slow and not browser" $(PYTEST_ARGS)

.PHONY: test-browser
test-browser: setup
	$(BIN)/python -m pytest -m browser $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

# Both editions: notebooks/convnet/ and, translated with mnistcnn/locale/*/LC_MESSAGES/lessons.po,
# notebooks/zh_CN/convnet/ (autograder/course/release.py). A text without a translation stops it:
# `make catalogs` adds it to the catalog for a translator.
notebooks: $(STAMP)
	$(BIN)/python -m autograder.course.release

# Every catalog of every language other than English in step with the lessons (translate.py) and the
# code (catalogs.py): new texts added untranslated, vanished ones dropped, then what is left to do.
TRANSLATIONS ?= $(shell $(BIN)/python -c 'from mnistcnn import i18n; print(*(x for x in i18n.LANGUAGES if x != i18n.SOURCE_LANGUAGE))' 2>/dev/null)
catalogs: $(STAMP)
	for lang in $(TRANSLATIONS); do \
		$(BIN)/python -m autograder.course.translate update $$lang || exit 1; \
		$(BIN)/python -m autograder.course.catalogs update $$lang || exit 1; \
		$(BIN)/python -m autograder.course.translate check $$lang; \
		$(BIN)/python -m autograder.course.catalogs check $$lang; \
	done

validate: setup
	$(BIN)/python -m autograder.course.release --validate

SOURCE ?= tests/fixtures/submissions
grade: setup
	$(BIN)/mnistcnn-grade $(SOURCE) $(GRADE_ARGS)

# What the students get (autograder/kit.py): notebooks, mnistcnn/, pinned requirements, course.py.
kit: $(STAMP)
	$(BIN)/python -m autograder.course.kit $(KIT_ARGS)

examples: $(STAMP)
	PYTHONPATH=tests $(BIN)/python -m fixtures.examples

seeds: setup
	$(BIN)/python tools/seed_sweep.py --seeds 0-11

# The benchmark package tools/bench/ (python -m tools.bench --help); BENCH_ARGS=--quick for a short
# run that writes nothing, BENCH_ARGS="--from-json docs/benchmarks.json" to render the report again.
bench: setup
	$(BIN)/python -m tools.bench --json docs/benchmarks.json $(BENCH_ARGS)

# Grade the red-team corpus (tests/fixtures/redteam.py) in the sandbox and write docs/redteam.md (~15 min).
REDTEAM_DIR ?= /tmp/mnistcnn-redteam
redteam: setup
	rm -rf $(REDTEAM_DIR)
	PYTHONPATH=tests $(BIN)/python -m fixtures.redteam --table $(REDTEAM_DIR)

clean:
	rm -rf $(VENV) data grading gradebook.db dist
