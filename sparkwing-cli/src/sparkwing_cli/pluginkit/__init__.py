"""``sparkwing plugin new``: write a complete plugin distribution for one kind.

* :mod:`.kinds` describes what each kind (state, logs, artifacts, executor,
  trigger) registers and which conformance suite checks it;
* :mod:`.stubs` writes a store class from its contract;
* :mod:`.generate` renders the templates under ``templates/`` into a new
  directory.
"""
