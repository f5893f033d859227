# nbgrader reads this file when it runs from the kit's folder (`python course.py check`, and the
# Validate button of JupyterLab started by `python course.py lab`).
import runpy
from pathlib import Path

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)
# The course's constants from the kit's mnistcnn/, read as a file: the Python reading this
# configuration (JupyterLab's, nbgrader's) need not have the kit's folder on its path.
constants = runpy.run_path(str(Path(__file__).resolve().parent / "mnistcnn" / "constants.py"))

# The training cell runs for one to two minutes on a laptop; nbgrader's default of 30 s per cell
# would cut it off. nbgrader's Execute preprocessor has its own `timeout`.
c.Execute.timeout = constants["CELL_TIMEOUT"]
c.ExecutePreprocessor.timeout = constants["CELL_TIMEOUT"]
c.Execute.startup_timeout = constants["STARTUP_TIMEOUT"]
