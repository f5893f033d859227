"""Running a student's code: the bubblewrap launcher (``launcher``) and nbgrader's execution step (``execute``)."""
