"""Stores that live in a controller: ``state``/``logs`` ``{type: controller, url, token_env}``.

* :mod:`.client`: the HTTP client (standard library only, keep-alive, retries);
* :mod:`.state`: :class:`~.state.ControllerStateStore`, a
  :class:`~sparkwing.storage.contracts.StateStore` (and ``BatchingStateStore``)
  over the controller's ``/api/v1`` state routes;
* :mod:`.logs`: :class:`~.logs.ControllerLogStore` over its logs service;
* :mod:`.wire`: records as JSON, shared with the controller's handlers;
* :mod:`.register`: the factories registered as the built-in ``controller`` type.
"""
