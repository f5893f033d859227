"""Grading a class: from the LMS download to the gradebook, the feedback, the grades and the report."""
