"""W2: 500 independent in-process jobs, then a join needing all of them."""


def plan(plan, inputs, run):
    """Register 500 no-op jobs and the join."""
    jobs = [plan.job(f"j{i}", lambda ctx: None) for i in range(500)]
    plan.job("join", lambda ctx: None).needs(*jobs)
