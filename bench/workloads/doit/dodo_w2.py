"""W2 for doit: 500 independent python-action tasks, then a join depending on all."""

DOIT_CONFIG = {"default_tasks": ["join"]}


def _noop():
    return None


def task_j():
    """The 500 independent jobs (sub-tasks j:0 .. j:499)."""
    for i in range(500):
        yield {"name": str(i), "actions": [_noop]}


def task_join():
    """The join: depends on the whole j group."""
    return {"actions": [_noop], "task_dep": ["j"]}
