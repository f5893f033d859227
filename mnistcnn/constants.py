"""The course's constants, in one place: its names, the accuracy it requires, its time limits.

Only plain values, and only Python's standard library: the students' kit reads them too (its
``course.py`` and ``nbgrader_config.py``, before any of the course's packages is installed).
"""

#: nbgrader's name of the assignment: the folder of its notebooks (solutions/convnet, notebooks/convnet).
ASSIGNMENT = "convnet"
#: nbgrader's course id.
COURSE_ID = "mnistcnn"
#: The course's named Jupyter kernel, and the name JupyterLab shows for it.
KERNEL_NAME = "mnistcnn"
KERNEL_DISPLAY_NAME = "Python 3 (Convnets on MNIST)"
#: The course's kernel for each language other than English: (name, display name; Jupyter lowercases
#: names). It sets $MNISTCNN_LANGUAGE, so that the checks speak the language of the notebook naming it.
LANGUAGE_KERNELS = {"zh_CN": ("mnistcnn-zh_cn", "Python 3（MNIST 卷积神经网络）")}
#: The assignment's notebooks, in the order they are worked through (names without ``.ipynb``).
NOTEBOOKS = ("01_data", "02_convnet", "03_training")
#: The notebook JupyterLab opens first, relative to the folder that holds the assignment's folder.
FIRST_NOTEBOOK = f"{ASSIGNMENT}/{NOTEBOOKS[0]}.ipynb"

#: Test accuracy the course requires of the trained convnet.
ACCURACY_THRESHOLD = 0.99

#: Seconds one notebook cell may run (nbgrader's default of 30 s would cut the training cell off).
CELL_TIMEOUT = 1800
#: Seconds a kernel may take to start.
STARTUP_TIMEOUT = 120
#: Seconds the judging of one cell may take (the accuracy measurement is the longest: about 3 s).
JUDGE_CELL_TIMEOUT = 600
