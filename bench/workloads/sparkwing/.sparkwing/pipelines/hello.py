"""W1: one job that prints hello."""


def plan(plan, inputs, run):
    """Register the single job."""
    plan.job("hello", lambda ctx: print("hello"))
