"""Turning outside events into runs: the trigger contract, dispatch and the built-in sources.

Sources are plugins (hook ``sparkwing_register_triggers``); ``manual``,
``git-hook`` and ``schedule`` ship in core and register through the same hook.
"""
