"""Entry point of a benchmark child process: ``python -m tools.bench.child NAME CONFIG-JSON``.

Runs the program ``NAME`` of :mod:`tools.bench.children` (TensorFlow) with its configuration and prints
its answer as one line of JSON. Each child is a fresh process: TensorFlow reads its settings when it is
imported. (A grading job is run by :mod:`tools.bench.gradejob`, with either grader's own python.)
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    name, cfg = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    from tools.bench import children

    answer = children.PROGRAMS[name](cfg)
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
