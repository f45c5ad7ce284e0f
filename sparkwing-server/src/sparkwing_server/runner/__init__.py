"""``sparkwing runner``: claims queued triggers from a controller and runs them in child processes.

- :mod:`.options`: the runner's settings and its holder name;
- :mod:`.workspace`: the work directory (home, profiles file, code cache, run dirs);
- :mod:`.child`: one ``sparkwing triggers run`` child process in its own process group;
- :mod:`.job`: one claimed trigger, from code checkout to the finished claim;
- :mod:`.loop`: the claim loop, back-off and shutdown.

See docs/controller.md ("Runners").
"""
