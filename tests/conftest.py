import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the autograder/ tooling
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

from mnistcnn import quiet_tensorflow  # noqa: E402

quiet_tensorflow()


@pytest.fixture(scope="session")
def mnist():
    from mnistcnn.data import load_mnist

    return load_mnist(online=False)


@pytest.fixture(scope="session")
def root():
    return ROOT
