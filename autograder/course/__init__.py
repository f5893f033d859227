"""The course's nbgrader tooling: configuration, release and validation, JupyterLab, the students' kit."""
