"""W1 for doit: one python-action task printing hello."""

DOIT_CONFIG = {"verbosity": 2}


def task_hello():
    """Print hello."""
    return {"actions": [lambda: print("hello")]}
