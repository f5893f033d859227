# nbgrader reads this file when it runs from the kit's folder (`python course.py check`, and the
# Validate button of JupyterLab started by `python course.py lab`).
c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

# The training cell runs for one to two minutes on a laptop; nbgrader's default of 30 s per cell
# would cut it off. nbgrader's Execute preprocessor has its own `timeout`.
c.Execute.timeout = 1800
c.ExecutePreprocessor.timeout = 1800
c.Execute.startup_timeout = 120
