"""W4 for doit: 100 cmd-action tasks running ``true``, two at a time (threads)."""

DOIT_CONFIG = {"num_process": 2, "par_type": "thread"}


def task_s():
    """s:0 .. s:99, each a shell command."""
    for i in range(100):
        yield {"name": str(i), "actions": ["true"]}
