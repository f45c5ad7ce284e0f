"""The NDJSON reporter writes the records' bytes as they are, in order with other text."""

from __future__ import annotations

import io
from pathlib import Path

from sparkwing.orchestrator.reporting import JsonReporter


def test_records_keep_their_place_among_text_written_to_the_stream(tmp_path: Path) -> None:
    path = tmp_path / "out"
    # a file whose text encoding is not UTF-8: the records still are
    with open(path, "w", encoding="latin-1") as out:
        out.write("before é\n")
        reporter = JsonReporter(out)
        reporter.records('{"msg":"✓"}\n'.encode())
        out.write("printed by a job\n")  # print() from an in-process job
        reporter.records(b'{"msg":"b"}\n{"msg":"c"}\n')
        out.write("after\n")
    assert path.read_bytes() == (b'before \xe9\n{"msg":"\xe2\x9c\x93"}\nprinted by a job\n'
                                 b'{"msg":"b"}\n{"msg":"c"}\nafter\n')


def test_a_stream_without_a_buffer_gets_text() -> None:
    out = io.StringIO()
    reporter = JsonReporter(out)
    reporter.records('{"msg":"✓"}\n'.encode())
    out.write("x\n")
    assert out.getvalue() == '{"msg":"✓"}\nx\n'
