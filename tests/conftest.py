import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the autograder/ tooling
from autograder.course.release import use_tool_path  # noqa: E402
from mnistcnn import quiet_tensorflow  # noqa: E402

use_tool_path()  # nbgrader's tools (alembic, kernels) from this environment

quiet_tensorflow()


@pytest.fixture(scope="session", autouse=True)
def attempts_state(tmp_path_factory):
    """The count of failures in a row (mnistcnn.hints) kept in a folder of the test session, not in
    the home of whoever runs the tests."""
    import os

    from mnistcnn.hints import STATE_ENV

    os.environ[STATE_ENV] = str(tmp_path_factory.mktemp("attempts"))
    return os.environ[STATE_ENV]


@pytest.fixture(scope="session")
def mnist():
    from mnistcnn.data import load_mnist

    return load_mnist(online=False)


@pytest.fixture(scope="session")
def root():
    return ROOT
