import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the autograder/ tooling
from autograder.release import use_tool_path  # noqa: E402
from mnistcnn import quiet_tensorflow  # noqa: E402

use_tool_path()  # nbgrader's tools (alembic, kernels) from this environment

quiet_tensorflow()


@pytest.fixture(scope="session")
def mnist():
    from mnistcnn.data import load_mnist

    return load_mnist(online=False)


@pytest.fixture(scope="session")
def root():
    return ROOT
