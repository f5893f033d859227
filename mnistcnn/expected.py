"""What the lesson's model must look like, layer by layer (class, output shape, parameters, config).

Output shapes leave out the batch axis. The numbers are the book's (Deep Learning with Python, 5.1).
"""

CONV_BASE = [
    ("Conv2D", (26, 26, 32), 320, {"filters": 32, "kernel_size": (3, 3), "activation": "relu"}),
    ("MaxPooling2D", (13, 13, 32), 0, {}),
    ("Conv2D", (11, 11, 64), 18_496, {"filters": 64, "kernel_size": (3, 3), "activation": "relu"}),
    ("MaxPooling2D", (5, 5, 64), 0, {}),
    ("Conv2D", (3, 3, 64), 36_928, {"filters": 64, "kernel_size": (3, 3), "activation": "relu"}),
]

FULL_MODEL = CONV_BASE + [
    ("Flatten", (576,), 0, {}),
    ("Dense", (64,), 36_928, {"units": 64, "activation": "relu"}),
    ("Dense", (10,), 650, {"units": 10, "activation": "softmax"}),
]

TOTAL_PARAMS = 93_322
assert sum(row[2] for row in FULL_MODEL) == TOTAL_PARAMS
