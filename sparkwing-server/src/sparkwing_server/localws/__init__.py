"""The local dashboard: JSON API, live streams (SSE) and the web UI over the local stores.

* :func:`sparkwing_server.localws.app.make_app` builds the aiohttp application
  over opened stores.
* ``python -m sparkwing_server.localws --addr HOST:PORT [--profile P] [--read-only]``
  resolves a profile, opens its stores and serves them (this is what
  ``sparkwing dashboard start`` runs detached).
* :mod:`sparkwing_server.localws.lifecycle` holds the PID-file and process
  handling behind ``sparkwing dashboard start|status|kill``.
"""
