"""Deadlines and late penalties, applied the nbgrader way.

The assignment's ``duedate`` and each submission's ``timestamp`` live in the gradebook (nbgrader reads
the timestamp from ``timestamp.txt`` in the submission's folder); nbgrader's own
``AssignLatePenalties`` preprocessor asks a :class:`LatePolicy` plugin for the penalty of each
notebook and stores it as that notebook's ``late_submission_penalty``. It resets the penalty before
computing it, so grading a submission again never applies it twice.

The policy: a penalty of ``penalty`` (a fraction of the notebook's points) for every day or hour
started after the deadline, at most ``cap`` of the points; a submission no later than ``grace``
after the deadline is on time. nbgrader itself never takes more than the score.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Enum, Float

from autograder.grading.language import _

PERIODS = {"day": 86400.0, "hour": 3600.0}
UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


class LatePolicy(LateSubmissionPlugin):
    """A share of the notebook's points per day or hour started after the deadline, capped."""

    penalty = Float(0.0, help="Fraction of the notebook's points taken per period started late (0.1 = 10 %).")\
        .tag(config=True)
    per = Enum(("day", "hour"), default_value="day", help="The period the penalty is counted in.")\
        .tag(config=True)
    cap = Float(1.0, help="The largest total penalty, as a fraction of the notebook's points.").tag(config=True)
    grace = Float(0.0, help="Seconds after the deadline that still count as on time.").tag(config=True)

    def fraction(self, seconds_late: float) -> float:
        """The share of the points taken for a submission ``seconds_late`` after the deadline."""
        if seconds_late <= self.grace:
            return 0.0
        periods = math.ceil(seconds_late / PERIODS[self.per])
        return min(self.cap, self.penalty * periods)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float:
        return round(self.fraction(total_seconds_late) * self._max_score(student_id, score), 6)

    def _max_score(self, student_id: str, score: float) -> float:
        """The notebook's maximum score, from the gradebook nbgrader's preprocessor has open."""
        pre = self.parent
        gradebook = getattr(pre, "gradebook", None)
        if gradebook is None:  # called outside nbgrader's preprocessor: the score is all there is
            return score
        nb = gradebook.find_submission_notebook(pre.notebook_id, pre.assignment_id, student_id)
        return float(nb.max_score)


# ----------------------------------------------------------------------------- the settings, from the command line


class PolicyError(ValueError):
    """A deadline or late-policy option that cannot be understood (the message says why)."""


@dataclass(frozen=True)
class Policy:
    """The deadline and the late policy of one grading run."""

    deadline: datetime  # aware
    penalty: float = 0.0
    per: str = "day"
    cap: float = 1.0
    grace: float = 0.0

    def config(self) -> dict:
        """The traitlets configuration of :class:`LatePolicy` and nbgrader's preprocessor."""
        return {"AssignLatePenalties": {"plugin_class": f"{__name__}.LatePolicy"},
                "LatePolicy": {"penalty": self.penalty, "per": self.per, "cap": self.cap, "grace": self.grace}}

    def duedate_utc(self) -> datetime:
        """The deadline as nbgrader stores it (naive UTC)."""
        return self.deadline.astimezone(timezone.utc).replace(tzinfo=None)

    def describe(self) -> str:
        """The policy in a line, in the current language (:func:`mnistcnn.i18n.using`)."""
        text = _("deadline {deadline}").format(deadline=self.deadline.isoformat(timespec="minutes"))
        if self.penalty:
            per = _("day") if self.per == "day" else _("hour")
            text += _("; {rate:.4g}% of the points per {per} started late, at most {cap:.4g}%").format(
                rate=self.penalty * 100, per=per, cap=self.cap * 100)
        else:
            text += _("; no late penalty")
        if self.grace:
            text += _("; grace {duration}").format(duration=_duration_text(self.grace))
        return text

    def to_dict(self) -> dict:
        data = asdict(self)
        data["deadline"] = self.deadline.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Policy:
        return cls(**{**data, "deadline": datetime.fromisoformat(data["deadline"])})


def parse_iso(text: str) -> datetime:
    """An ISO 8601 date and time, also with ``Z`` for UTC (which Python 3.10's fromisoformat does not
    read); ValueError if it is none."""
    text = str(text).strip()
    return datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)


def parse_deadline(text: str) -> datetime:
    """``2026-12-15T23:59+01:00`` (ISO 8601 with its UTC offset, or ``Z``) as an aware datetime."""
    try:
        when = parse_iso(text)
    except ValueError:
        raise PolicyError(f"--deadline {text!r}: not a date and time such as 2026-12-15T23:59+01:00") from None
    if when.tzinfo is None:
        raise PolicyError(f"--deadline {text!r}: give the UTC offset, e.g. {text}+01:00 (or Z for UTC)")
    return when


def parse_fraction(text: str, option: str) -> float:
    """``10%`` or ``0.1`` as 0.1 (between 0 and 1)."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise PolicyError(f"{option} {text!r}: not a percentage such as 10% (or a fraction such as 0.1)") from None
    if not 0 <= value <= 1:
        raise PolicyError(f"{option} {text!r}: must be between 0% and 100%")
    return value


def parse_penalty(text: str) -> tuple[float, str]:
    """``10%/day`` or ``2%/hour`` as (0.1, 'day')."""
    m = re.fullmatch(r"\s*([^/]+)/\s*(day|hour|d|h)\s*", text)
    if not m:
        raise PolicyError(f"--late-penalty {text!r}: expected a share per day or per hour, e.g. 10%/day or 2%/hour")
    per = {"d": "day", "h": "hour"}.get(m[2], m[2])
    return parse_fraction(m[1], "--late-penalty"), per


def parse_duration(text: str, option: str = "--grace") -> float:
    """``15m``, ``2h``, ``1d``, ``90s`` (or plain seconds) in seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*", text)
    if not m:
        raise PolicyError(f"{option} {text!r}: expected a duration such as 15m, 2h or 1d")
    return float(m[1]) * UNITS[m[2] or "s"]


def policy_from_args(deadline: str | None, penalty: str | None, cap: str | None, grace: str | None) -> Policy | None:
    """The run's policy from the command-line options (None without a deadline)."""
    if deadline is None:
        if penalty or cap or grace:
            raise PolicyError("--late-penalty, --late-cap and --grace need a --deadline")
        return None
    rate, per = parse_penalty(penalty) if penalty else (0.0, "day")
    return Policy(parse_deadline(deadline), rate, per, parse_fraction(cap, "--late-cap") if cap else 1.0,
                  parse_duration(grace) if grace else 0.0)


def _duration_text(seconds: float) -> str:
    if seconds >= 86400:
        return _("{n:.3g} d").format(n=seconds / 86400)
    if seconds >= 3600:
        return _("{n:.3g} h").format(n=seconds / 3600)
    return _("{n:.3g} min").format(n=seconds / 60)


# ----------------------------------------------------------------------------- applying it to a gradebook


@dataclass
class SubmissionTime:
    """When a submission was handed in, and where that time comes from."""

    timestamp: datetime | None  # aware; None when no source gives it
    source: str  # e.g. "zip entry time", "Moodle worksheet", "timestamp.txt", "file modification time"
    note: str = ""  # what the instructor should know about this source

    def nbgrader_text(self) -> str | None:
        """The text of nbgrader's ``timestamp.txt`` (UTC)."""
        if self.timestamp is None:
            return None
        return self.timestamp.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


@dataclass
class LateRecord:
    """The lateness and penalty of one submission, as stored with its result and shown everywhere."""

    deadline: str
    policy: str
    timestamp: str | None = None
    source: str = ""
    note: str = ""
    seconds_late: float = 0.0
    penalty: float = 0.0
    penalties: dict[str, float] = field(default_factory=dict)

    @property
    def hours_late(self) -> float:
        return round(self.seconds_late / 3600, 2)

    def text(self) -> str:
        """One line for the feedback and the report, in the current language."""
        if self.timestamp is None:
            return _("Lateness: the time of this submission is unknown ({why}); no late penalty applied "
                     "({policy}).").format(why=self.note or self.source, policy=self.policy)
        when = _("Handed in {time} ({source})").format(time=self.timestamp, source=_(self.source))
        if self.seconds_late <= 0:
            return _("{when}: on time ({policy}).").format(when=when, policy=self.policy)
        late = _("{when}: {duration} after the deadline").format(when=when,
                                                                 duration=_duration_text(self.seconds_late))
        if self.penalty <= 0:
            return _("{late}; no late penalty ({policy}).").format(late=late, policy=self.policy)
        parts = ", ".join(f"{nb} -{p:g}" for nb, p in sorted(self.penalties.items()) if p)
        return _("{late}: late penalty {penalty:g} points ({parts}; {policy}).").format(
            late=late, penalty=self.penalty, parts=parts, policy=self.policy)


def _preprocessor(policy: Policy):
    from nbgrader.preprocessors import AssignLatePenalties
    from traitlets.config import Config

    return AssignLatePenalties(config=Config(policy.config()))


def apply_penalties(db_url: str, assignment: str, student: str, policy: Policy,
                    when: SubmissionTime) -> LateRecord:
    """Record the deadline and the submission's time in the gradebook, then let nbgrader's own
    ``AssignLatePenalties`` set each notebook's ``late_submission_penalty`` (it starts from zero,
    so applying it again gives the same penalty)."""
    import nbformat
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        gb.update_or_create_assignment(assignment, duedate=policy.duedate_utc())
        sub = gb.update_or_create_submission(assignment, student, timestamp=when.nbgrader_text())
        notebooks = sorted(nb.name for nb in sub.notebooks)
    for name in notebooks:
        resources = {"nbgrader": {"notebook": name, "assignment": assignment, "student": student,
                                  "db_url": db_url}}
        _preprocessor(policy).preprocess(nbformat.v4.new_notebook(), resources)
    return read_record(db_url, assignment, student, policy, when)


def read_record(db_url: str, assignment: str, student: str, policy: Policy, when: SubmissionTime) -> LateRecord:
    """The lateness and penalties as the gradebook has them."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        sub = gb.find_submission(assignment, student)
        penalties = {nb.name: float(nb.late_submission_penalty or 0.0) for nb in sub.notebooks}
        seconds = float(sub.total_seconds_late)
    stamp = when.timestamp.astimezone(timezone.utc).isoformat(timespec="seconds") if when.timestamp else None
    return LateRecord(deadline=policy.deadline.isoformat(), policy=policy.describe(), timestamp=stamp,
                      source=when.source, note=when.note, seconds_late=seconds,
                      penalty=round(sum(penalties.values()), 6), penalties=penalties)


POLICY_FILE = "late_policy.json"


def save_policy(folder: Path, policy: Policy | None) -> None:
    """The run's policy as nbgrader configuration in the grading folder (removed without a deadline):
    the course's nbgrader_config.py loads it, so nbgrader's own ``autograde`` applies the same penalty."""
    path = Path(folder) / POLICY_FILE
    if policy is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(json.dumps(policy.config(), indent=1))


def set_duedate(db_url: str, assignment: str, policy: Policy | None) -> None:
    """The assignment's due date in a gradebook (removed when the run has no deadline)."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        gb.update_or_create_assignment(assignment, duedate=policy.duedate_utc() if policy else None)


