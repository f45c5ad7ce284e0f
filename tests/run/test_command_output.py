"""A command's output becomes one ``exec_line`` record per line: splitting the pipe's bytes
into lines (:class:`LineSplitter`), masking them (:meth:`Masker.mask_lines`) and framing a
whole block at once, checked against the plain per-line way of doing each."""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

import pytest
from sparkwing.runtime.command import ProcessTracker, run_command
from sparkwing.runtime.linesplit import LineSplitter, decode_lines, decoded_tail, tail_lines
from sparkwing.runtime.nodelog import NodeLogger
from sparkwing.runtime.pipes import PIPE_BYTES, widen_pipe
from sparkwing.runtime.secrets import Masker
from sparkwing.storage.fs_logs import FilesystemLogStore

SECRET = "tok-Sup3rSecret-4711"

#: Pieces of output the random streams are made of: escapes, CRLF, multi-byte and broken
#: UTF-8 (a lone continuation byte, a cut sequence, an encoded surrogate), a secret.
PIECES = [b"a", b"bc", b"\n", b"\r", b"\r\n", b'"', b"\\", b"\\n", b"\t", b"\x00", b"\x1b[31m",
          "é".encode(), "✓".encode(), "😀".encode(), b"\xff", b"\xe2\x9c", b"\xed\xa0\x80",
          SECRET.encode(), b" "]


def reference_lines(data: bytes) -> list[str]:
    """The lines of a whole output: decoded at once, split at newlines, trailing CRs dropped."""
    text = data.decode("utf-8", "replace")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def split_in_chunks(chunks: list[bytes]) -> list[str]:
    splitter = LineSplitter()
    out: list[str] = []
    for data in [*(splitter.push(chunk) for chunk in chunks), splitter.finish()]:
        if data is not None:
            lines = decode_lines(data).split("\n")
            for n in (1, 3, 20):
                assert decoded_tail(data, n) == lines[-n:], (data, n)
            out.extend(lines)
    return out


def test_line_splitter_matches_decoding_the_whole_output() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        data = b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 30)))
        cuts = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, rng.randint(0, 8))))
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert split_in_chunks(chunks) == reference_lines(data), (data, chunks)


def test_line_splitter_edges() -> None:
    assert split_in_chunks([]) == []
    assert split_in_chunks([b"", b""]) == []
    assert split_in_chunks([b"\n"]) == [""]
    assert split_in_chunks([b"no newline at the end"]) == ["no newline at the end"]
    assert split_in_chunks([b"crlf\r\n", b"cr at the end\r\r"]) == ["crlf", "cr at the end"]
    assert split_in_chunks([b"a\rb\r\n"]) == ["a\rb"]  # a carriage return inside a line stays
    # a character cut between two reads is decoded whole; a cut-off one at the end is replaced
    assert split_in_chunks([b"\xe2\x9c", b"\x93\n\xe2\x9c"]) == ["✓", "\ufffd"]
    # a long line arriving in many reads without a newline is one line
    long = [b"y" * 1000] * 300
    assert split_in_chunks([*long, b"\n", *long]) == ["y" * 300_000] * 2


def test_tail_lines() -> None:
    for text in ["", "a", "a\nb", "\n", "a\nb\nc\n\nd", "\n\n\n", "x\n" * 50]:
        for n in range(1, 8):
            assert tail_lines(text, n) == text.split("\n")[-n:], (text, n)


def test_mask_lines_is_masking_each_line() -> None:
    text = "\n".join(["a tok-1234 b", "tok-", "1234 split", "PEM-", "x", "END", "tok-1234tok-1234"])
    for secrets in (["tok-1234"], ["tok-1234", "PEM-\nx\nEND", "1234 s"], []):
        m = Masker()
        for s in secrets:
            m.add(s)
        expected = "\n".join(m.mask(line) for line in text.split("\n"))
        assert m.mask_lines(text) == expected
    m = Masker()
    m.add("PEM-\nx\nEND")
    assert "PEM-\nx\nEND" in m.mask_lines(text)  # a value holding a newline: masked per line


def run_output(tmp_path: Path, script: str, secret: bool = True,
               ) -> tuple[list[dict[str, object]], str, NodeLogger]:
    """Run a Python *script* as a command into a real node log (with SECRET registered)."""
    store = FilesystemLogStore(tmp_path / "logs")
    masker = Masker()
    if secret:
        masker.add(SECRET)
    teed: list[bytes] = []
    log = NodeLogger(store.writer("run-1", "job"), "job", masker, teed.append)
    run_command([sys.executable, "-c", script], shell=False, log=log, tracker=ProcessTracker(),
                step="s1")
    log.close()
    data = (tmp_path / "logs" / "run-1" / "job.log").read_bytes()
    assert b"".join(teed) == data  # the reporter saw exactly what the log holds
    for line in data.splitlines():  # every record as json.dumps writes it, byte for byte
        if b'"event":"exec_line"' in line:
            dumped = json.dumps(json.loads(line), ensure_ascii=False, separators=(",", ":"))
            assert dumped.encode() == line
    text = data.decode("utf-8")
    return [json.loads(line) for line in text.splitlines()], text, log


@pytest.mark.parametrize("seed,secret", [(1, True), (2, True), (3, False), (4, False)])
def test_run_command_records_every_line_in_order(tmp_path: Path, seed: int, secret: bool) -> None:
    rng = random.Random(seed)
    plain = b"".join(b"plain line %06d %s\n" % (i, b"x" * 60) for i in range(5000))
    # stretches of plain ASCII lines (framed as read) between ones that need decoding
    data = b"".join(plain if rng.random() < 0.5 else
                    b"".join(rng.choice(PIECES) for _ in range(20_000)) for _ in range(8))
    data += b"last line without newline\r"
    (tmp_path / "out.bin").write_bytes(data)
    script = (  # write in uneven pieces, flushing, so reads end anywhere
        "import sys, random\n"
        f"data = open({str(tmp_path / 'out.bin')!r}, 'rb').read()\n"
        f"r = random.Random({seed}); i = 0\n"
        "while i < len(data):\n"
        "    n = r.randint(1, 70000); sys.stdout.buffer.write(data[i:i + n])\n"
        "    sys.stdout.buffer.flush(); i += n\n"
    )
    records, text, log = run_output(tmp_path, script, secret)
    assert records[0]["event"] == "exec_start"
    out = [r for r in records if r.get("event") == "exec_line"]
    expected = reference_lines(data)
    if secret:
        expected = [line.replace(SECRET, "***") for line in expected]
    assert [r["msg"] for r in out] == expected
    assert all(r["node"] == "job" and r["step"] == "s1" and r["level"] == "info" for r in out)
    assert (SECRET in text) is (not secret and SECRET in data.decode("utf-8", "replace"))
    assert list(log.last_lines) == expected[-20:]


@pytest.mark.parametrize("secret", [True, False])
def test_run_command_framing_of_a_plain_chatty_command(tmp_path: Path, secret: bool) -> None:
    script = "import sys\nfor i in range(50_000): sys.stdout.write(f'line {i:06d} ' + 'x' * 67 + '\\n')\n"
    records, text, log = run_output(tmp_path, script, secret)
    out = [r for r in records if r.get("event") == "exec_line"]
    expected = [f"line {i:06d} " + "x" * 67 for i in range(50_000)]
    assert [r["msg"] for r in out] == expected
    assert text.count('"event":"exec_line"') == 50_000
    assert list(log.last_lines) == expected[-20:]



def _pipe_size(fd: int) -> int:
    import fcntl

    return int(fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ))


def test_widen_pipe_raises_a_pipe_to_one_mebibyte() -> None:
    # Linux's default fs.pipe-max-size is exactly 1 MiB; the runner relies on it.
    assert int(Path("/proc/sys/fs/pipe-max-size").read_text()) >= PIPE_BYTES
    r, w = os.pipe()
    try:
        assert _pipe_size(r) < PIPE_BYTES
        widen_pipe(w)
        assert _pipe_size(r) == PIPE_BYTES
        os.close(w)
        widen_pipe(w)  # a closed descriptor: nothing happens
    finally:
        os.close(r)


def test_a_commands_output_pipe_is_widened(tmp_path: Path) -> None:
    script = (  # the runner widens the pipe just after the start: wait for it
        "import fcntl, time\n"
        "end = time.monotonic() + 10\n"
        "while fcntl.fcntl(1, fcntl.F_GETPIPE_SZ) < 1 << 20 and time.monotonic() < end:\n"
        "    time.sleep(0.01)\n"
        "print(fcntl.fcntl(1, fcntl.F_GETPIPE_SZ))\n"
    )
    records, _, _ = run_output(tmp_path, script)
    assert [r["msg"] for r in records if r.get("event") == "exec_line"] == [str(PIPE_BYTES)]
