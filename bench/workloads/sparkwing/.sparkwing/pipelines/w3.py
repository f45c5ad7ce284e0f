"""W3: a chain of 200 in-process jobs, each needing the one before."""


def plan(plan, inputs, run):
    """Register the chain c0 <- c1 <- ... <- c199."""
    prev = None
    for i in range(200):
        job = plan.job(f"c{i}", lambda ctx: None)
        if prev is not None:
            job.needs(prev)
        prev = job
