"""W3 for doit: a chain of 200 python-action tasks, each depending on the one before."""


def _noop():
    return None


def task_c():
    """c:0 <- c:1 <- ... <- c:199."""
    for i in range(200):
        yield {"name": str(i), "actions": [_noop], "task_dep": [f"c:{i - 1}"] if i else []}
