"""nbgrader's execution step, with the notebook's output streams merged as JupyterLab shows them.

Keras's progress bar redraws itself hundreds of times per epoch with carriage returns. Executed by
nbgrader, each redraw becomes an output of its own: the training cell ends up with about a thousand
outputs, nbgrader's LimitOutput cuts them off before the last epoch, and the feedback page lists
them all. Merging the streams and applying the carriage returns (what nbclient's
``coalesce_streams`` does) leaves what a student sees in JupyterLab: one progress line per epoch.
"""

from nbgrader.preprocessors import Execute
from traitlets import Bool


class CourseExecute(Execute):
    coalesce_streams = Bool(True)
