# nbgrader reads this file when it runs from the top of the course; the configuration itself
# lives in autograder/nbgrader_config.py.
load_subconfig("autograder/nbgrader_config.py")  # noqa: F821
