"""Where one attempt of one job runs: the executor contract and the built-in executors.

Executors are plugins (hook ``sparkwing_register_executors``); ``local`` and
``process`` ship in core and register through the same hook as any other.
"""
