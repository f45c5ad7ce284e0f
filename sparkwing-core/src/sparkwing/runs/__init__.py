"""Starting runs: :func:`sparkwing.runs.start.start_run` is the one place a run begins.

The CLI (``sparkwing run``, ``runs retry``), the dashboard's retry, trigger
dispatch (git hooks, schedules, plugins) and later the controller all call it.
"""
