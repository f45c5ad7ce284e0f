"""Stores that live in a controller: ``state``/``logs``/``cache`` ``{type: controller, url, token_env}``.

* :mod:`.client`: the HTTP client (standard library only, keep-alive, retries);
* :mod:`.state`: :class:`~.state.ControllerStateStore`, a
  :class:`~sparkwing.storage.contracts.StateStore` (and ``BatchingStateStore``)
  over the controller's ``/api/v1`` state routes;
* :mod:`.logs`: :class:`~.logs.ControllerLogStore` over its logs service;
* :mod:`.artifacts`: :class:`~.artifacts.ControllerArtifactStore` over its cache routes;
* :mod:`.wire`: records as JSON, shared with the controller's handlers;
* :mod:`.register`: the factories registered as the built-in ``controller`` type.
"""
