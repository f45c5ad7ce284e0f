"""The team controller (``sparkwing controller serve``): the ``/api/v1`` REST API with tokens.

:mod:`.routes` is the route table (method, path, scope, handler) that the
auth middleware and the tests read; :mod:`.tokens` keeps the API tokens in
the state store; :mod:`.cli` holds ``sparkwing controller ...``.
"""
