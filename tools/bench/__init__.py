"""The course's benchmark: training and grading against what this CPU can do.

    python -m tools.bench [--quick] [--json docs/benchmarks.json]        (make bench)

1. the hardware's reach: a measured fp32 matrix-multiply rate (GFLOP/s);
2. training: the reference model and recipe in a fresh process per configuration, the shipped
   configuration against TensorFlow's stock defaults in turn, round by round, each training run
   between two measurements of the matmul rate; the other configurations tried; a per-layer profile;
3. grading: the grading job of a correct and a blank submission, by this grader and by an older
   one (``--baseline``: that revision whole, in its own checkout and venv) in turn, against the same
   work in a bare Python process; the parts of the fixed cost; throughput with 1 and 2 workers;
4. scale: projected time to grade 100, 1,000 and 10,000 submissions on 1, 8 and 64 workers;
5. student waits: ``nbgrader validate`` of each notebook.

Modules: :mod:`.children` (the measured programs, each run in a fresh process by :mod:`.child`),
:mod:`.configs` (training configurations and environments), :mod:`.training`, :mod:`.grading` and
:mod:`.validate` (the measurements), :mod:`.gradejob` (one grading job, run by file path with either
grader's python), :mod:`.baseline` (the older revision's checkout and venv), :mod:`.report` (the
document, one function per section), :mod:`.common` (processes, progress, figures).
"""
