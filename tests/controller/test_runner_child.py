"""The runner reads its child's ``-o json`` answer, which ``triggers run`` prints over several lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sparkwing_server.runner.child import Child

ANSWER = {"trigger": {"id": "trg-1", "status": "claimed"},
          "run": {"id": "run-1", "status": "success"}}


def _child(tmp_path: Path, code: str) -> Child:
    seen: list[str] = []
    child = Child([sys.executable, "-c", code], cwd=tmp_path, env={}, emit=seen.append)
    assert child.wait(timeout=120) == 0
    assert seen, "the child's lines were not emitted"
    return child


def test_an_indented_answer_after_other_output_is_read(tmp_path: Path) -> None:
    code = ("import json\nprint('{not json')\nprint('a log line')\n"
            f"print(json.dumps({ANSWER!r}, indent=2))\n")
    assert _child(tmp_path, code).result() == ANSWER


def test_a_one_line_answer_and_no_answer(tmp_path: Path) -> None:
    assert _child(tmp_path, f"print({json.dumps(json.dumps(ANSWER))})").result() == ANSWER
    assert _child(tmp_path, "print('no json here')").result() == {}
    assert _child(tmp_path, "print('[1, 2]')").result() == {}


def test_whether_a_run_was_recorded_waits_for_a_restarting_controller(
        tmp_path: Path, sparkwing_home: Path) -> None:
    """A controller that is away when the child exits is waited for, not read as "no run"."""
    import socket
    import threading
    import time

    from sparkwing.queueclient import QueueClient
    from sparkwing.storage.records import Run
    from sparkwing_server.controller.threaded import ThreadedController
    from sparkwing_server.controller.tokens import open_token_store
    from sparkwing_server.localws.serve import open_profile_stores
    from sparkwing_server.runner.supervise import run_recorded

    class Log:
        def error(self, *args: object, **kw: object) -> None:
            pass

    stores = open_profile_stores(None, tmp_path)
    stores.state.create_run(Run(id="run-1", pipeline="build", created_at=time.time()))
    tokens = open_token_store(stores)
    with socket.socket() as s:  # a port nobody listens on yet
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedController(stores, tokens, port=port)
    starter = threading.Timer(1.5, server.start)
    starter.start()
    try:
        client = QueueClient(f"http://127.0.0.1:{port}")
        assert run_recorded(client, "run-1", Log())  # asked while nothing listened
        assert not run_recorded(client, "run-2", Log())  # a 404 is an answer
        client.close()
    finally:
        starter.join()
        server.stop()
        tokens.close()
        stores.close()
