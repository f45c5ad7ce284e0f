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
