"""The typed records that pass between the steps of grading: a job, its private folders, its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Job:
    """One submission to grade, with everything a worker needs as data (file contents, the released
    sources, a gradebook), and no path of this machine: a worker, here or on another machine, uses
    its own copy of the course, its own MNIST file and its own temporary folders.
    ``started_marker`` is a test hook (a file the job writes when it starts, on a shared machine)."""

    student: str
    input_sha: str
    files: dict  # notebook name -> bytes (screened, usable)
    solutions: dict  # file name -> bytes of the source notebooks
    released: dict  # language -> notebook -> grade_id -> source the student saw (graded and locked cells)
    template_db: bytes
    threads: int
    timeout: float
    threshold: float
    incidents: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    timestamp: str | None = None
    sandbox: dict | None = None
    cell_timeout: float | None = None
    started_marker: str | None = None
    late: dict | None = None  # the run's late policy (late.Policy.to_dict()), if it has a deadline
    submitted: dict | None = None  # when it was handed in (late.SubmissionTime, as a dict)
    late_key: str | None = None  # what the penalty depends on besides the scores
    languages: dict = field(default_factory=dict)  # notebook -> the language it is written in (English if absent)

    def language(self, notebook: str | None) -> str:
        """The language of a notebook of this submission (of the submission itself for None)."""
        from autograder.grading.language import submission_language

        return self.languages.get(notebook) or submission_language(self.languages)

    @property
    def key(self) -> str:
        return f"grade-{self.student}-{self.input_sha[:12]}"


@dataclass
class JobResult:
    """What a job returns to the writer (stored as results/<student>.json, without the files)."""

    student: str
    input_sha: str
    status: str = "error"
    error: str | None = None
    sandbox: str = "none"
    pid: int = 0
    host: str = ""
    incidents: list = field(default_factory=list)
    grades: dict = field(default_factory=dict)
    comments: dict = field(default_factory=dict)
    verdicts: list = field(default_factory=list)
    accuracy: float | None = None
    accuracy_note: str = ""
    notes: dict = field(default_factory=dict)  # notebook -> grade_id -> the grader's note under that test cell
    history: dict | None = None
    log: str = ""
    seconds: float = 0.0
    judge_seconds: float | None = None
    kernels_ahead: int = 0  # notebooks whose sandboxed kernel was started while the previous one ran
    timestamp: str | None = None  # when it was handed in, as nbgrader's timestamp.txt has it
    late: dict | None = None  # late.LateRecord, as a dict, with its "text"
    late_key: str | None = None
    threshold: float | None = None  # the test accuracy this result was judged against (the class report reads it)
    autograded: dict = field(default_factory=dict)
    feedback: dict = field(default_factory=dict)
    languages: dict = field(default_factory=dict)  # notebook -> the language it was graded in


@dataclass
class JobPaths:
    """The private folders of one job."""

    tmp: Path
    course: Path
    record: Path
    evidence: Path
    runtime: Path | None = None
    runner_prefix: list | None = None  # the answer runner's sandbox command prefix (None: unsandboxed)

    @property
    def sandbox_config(self) -> Path:
        return self.tmp / "sandbox.json"

    @property
    def db(self) -> str:
        return f"sqlite:///{self.course / 'gradebook.db'}"

    @property
    def autograded(self) -> Path:
        return self.course / "autograded"
