"""The course's grading folder, one subpackage per concern; imports run one way, top to bottom:

* :mod:`autograder.grading`: grading a class (intake, screening, jobs, judging outside the kernel,
  the one gradebook writer, late penalties, CSV and LMS exports, the class report);
* :mod:`autograder.sandbox`: running a student's code (bubblewrap launcher with cgroups and a
  watchdog, the kernel manager and the execution step nbgrader uses);
* :mod:`autograder.course`: the course's nbgrader tooling (its configuration, release and
  validation, JupyterLab, the students' kit);
* :mod:`mnistcnn`, below all of them: what the notebooks import.
"""
