"""Student waits: ``nbgrader validate`` of each notebook as a student hands it in."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tools.bench.common import ROOT, Log


def bench_validate(args, log: Log, work: Path) -> list[dict]:
    """``nbgrader validate`` of each solved notebook from the command line (start of nbgrader included);
    ``--quick`` leaves out the notebook that trains."""
    from autograder.course import release

    solved = release.solved_copy(work / "solved")
    rows = []
    for nb in sorted(solved.glob("*.ipynb")):
        trains = nb.name.startswith("03")
        if args.quick and trains:
            continue
        t = time.perf_counter()
        proc = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "validate", str(nb)],
                              cwd=ROOT, env=release.tool_env(), capture_output=True, text=True)
        seconds = time.perf_counter() - t
        ok = proc.returncode == 0 and "Success!" in proc.stdout
        rows.append({"notebook": nb.name, "seconds": seconds, "ok": ok, "trains": trains})
        log(f"  validate {nb.name}: {seconds:.1f} s ({'passes' if ok else 'FAILED'})")
    return rows
