# nbgrader reads this file when it runs from the top of the course; the configuration itself
# lives in autograder/course/nbgrader_config.py.
load_subconfig("autograder/course/nbgrader_config.py")  # noqa: F821
