"""``python -m autograder.sandbox run ...``: the launcher's command line (see :mod:`autograder.sandbox.launcher`)."""

import sys

from autograder.sandbox.launcher import main

sys.exit(main())
