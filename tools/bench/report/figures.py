"""The figures the report derives from the raw measurements, computed once for every section."""

from __future__ import annotations

from dataclasses import dataclass

from tools.bench.common import BATCH, med


@dataclass
class ConfigRow:
    """One training configuration's runs: medians, and each run's share of the matmul rate next to it."""

    name: str
    runs: list[dict]
    flop_per_image: float

    @property
    def ms(self) -> float:
        return med(r["ms_per_step"] for r in self.runs)

    @property
    def images_s(self) -> float:
        return BATCH / self.ms * 1000

    @property
    def gflops(self) -> float:
        return self.images_s * self.flop_per_image / 1e9

    @property
    def shares(self) -> list[float]:
        return [r["share"] * 100 for r in self.runs]

    @property
    def hashes(self) -> list[str]:
        return sorted({r["weights"] for r in self.runs})


class Training:
    """Section 2's figures: a row per configuration, the paired ratios, the matmul rates measured."""

    def __init__(self, res: dict):
        self.tr, self.flop = res["training"], res["flops"]["train"]
        self.rows = {name: ConfigRow(name, runs, self.flop) for name, runs in self.tr["runs"].items() if runs}
        self.ratios = self.tr["ratios"]
        mm = res["matmul"]
        self.matmuls = self.tr["matmuls"]
        self.reach = max(mm.get("numpy_gflops", 0), mm["tf_gflops"], *self.matmuls)
        self.matmul_median = med(self.matmuls)

    def rounds(self, names) -> list[dict]:
        """name -> run, for each paired round (the runs that have a round number)."""
        out: dict[int, dict] = {}
        for name in names:
            for r in self.rows[name].runs:
                if r.get("round") is not None:
                    out.setdefault(r["round"], {})[name] = r
        return [out[i] for i in sorted(out)]


class Grading:
    """Section 3's figures: per round, each grader's job, fixed cost (job − bare) and overhead (job ÷ bare)."""

    def __init__(self, res: dict):
        self.g = res["grading"]
        self.rounds = self.g["rounds"]
        self.students = self.g["students"]

    @staticmethod
    def reference(row: dict, student: str) -> float:
        """The bare process's seconds a job of ``student`` is set against: the whole notebook 3 work for
        the correct submission, the dense network alone for the blank one."""
        return row["bare" if "bare" in row and student != "dee" else "dense"]["process_s"]

    def jobs(self, student: str, which: str) -> list[float]:
        return [row[student][which]["job_s"] for row in self.rounds]

    def bares(self, student: str) -> list[float]:
        return [self.reference(row, student) for row in self.rounds]

    def fixed(self, student: str, which: str) -> list[float]:
        return [row[student][which]["job_s"] - self.reference(row, student) for row in self.rounds]

    def overhead(self, student: str, which: str) -> list[float]:
        return [row[student][which]["job_s"] / self.reference(row, student) for row in self.rounds]

    def new_over_old(self, student: str) -> list[float]:
        return [row[student]["new"]["job_s"] / row[student]["old"]["job_s"] for row in self.rounds]

    def first(self, student: str, which: str) -> dict:
        return self.rounds[0][student][which]
