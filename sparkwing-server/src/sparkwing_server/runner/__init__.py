"""``sparkwing runner``: claims queued triggers and node attempts from a controller and runs them.

- :mod:`.options`: the runner's settings and its holder name;
- :mod:`.workspace`: the work directory (home, profiles files, code cache, run dirs);
- :mod:`.child`: one child process (``triggers run`` or ``node exec``) in its own process group;
- :mod:`.supervise`: what both kinds of job share: the child slot, the heartbeat, the finish;
- :mod:`.job`: one claimed trigger, from code checkout to the finished claim;
- :mod:`.node`: one claimed node attempt, from the run's code to the finished claim;
- :mod:`.loop`: the claim loop, back-off and shutdown.

See docs/controller.md ("Runners").
"""
