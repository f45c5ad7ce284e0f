"""Benchmark: framing and persisting command output as log records.

Formats 200,000 output lines of about 80 bytes as ``exec_line`` records
(in batches, as the executor does) and appends them to a filesystem log
store, five times; prints the median and the range for formatting alone,
for masking secrets, and for formatting plus writing (each written stream is
deleted after its run, outside the timing).

    uv run python bench/log_format.py [--lines N] [--batch N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sparkwing.storage.fs_logs import FilesystemLogStore
from sparkwing.storage.logrecord import format_output_lines, mask_secrets


def make_lines(n: int) -> list[str]:
    """Return *n* varied lines of roughly 80 bytes, like compiler or test output."""
    base = [
        'src/module_{i}.py:{i}: warning: "value" is assigned but never used [W0612]  ',
        "PASSED tests/test_feature_{i}.py::TestThing::test_case_{i} ........ [ 42%]   ",
        "  Compiling crate-{i} v0.{i}.0 (/home/ci/work/project/crates/crate-{i})        ",
        "\tat com.example.Service.handle(Service.java:{i}) ~[service-1.0.jar:1.0]\x1b[0m",
    ]
    return [base[i % 4].format(i=i) for i in range(n)]


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def report(name: str, runs: list[float]) -> None:
    """Print one figure: median and min-max in milliseconds."""
    print(
        f"{name:<34} median {statistics.median(runs) * 1000:7.1f} ms"
        f"   min {min(runs) * 1000:7.1f}   max {max(runs) * 1000:7.1f}"
    )


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000, help="lines per formatted batch")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    lines = make_lines(args.lines)
    batches = [lines[i : i + args.batch] for i in range(0, len(lines), args.batch)]
    raw = ["\n".join(b) + "\n" for b in batches]
    secrets = ["s3cr3t-token-value", "hunter2", "AKIAEXAMPLEKEY0000"]
    size = sum(len(x) for x in raw)
    print(f"{args.lines} lines, {size / 1e6:.1f} MB of output, batches of {args.batch}")

    def fmt() -> None:
        for b in batches:
            format_output_lines("build/linux", "compile", b, 1_795_455_703.123456)

    def mask() -> None:
        for chunk in raw:
            mask_secrets(chunk, secrets)

    with tempfile.TemporaryDirectory() as tmp:
        store = FilesystemLogStore(Path(tmp))
        run = [0]

        def persist() -> None:
            run[0] += 1
            writer = store.writer(f"run-{run[0]}", "build/linux")
            for b in batches:
                writer.write_raw(
                    format_output_lines("build/linux", "compile", b, 1_795_455_703.123456)
                )
            writer.close()

        def persist_masked() -> None:
            run[0] += 1
            writer = store.writer(f"run-{run[0]}", "build/linux")
            for chunk in raw:
                text = mask_secrets(chunk, secrets)
                writer.write_raw(
                    format_output_lines(
                        "build/linux", "compile", text[:-1].split("\n"), 1_795_455_703.123456
                    )
                )
            writer.close()

        for name, fn in (
            ("format only", fmt),
            ("mask secrets only", mask),
            ("format + write + flush", persist),
            ("mask + split + format + write", persist_masked),
        ):
            fn()  # warm up
            runs = []
            for _ in range(args.runs):
                runs.append(timed(fn))
                store.delete_run(f"run-{run[0]}")  # keep dirty pages from piling up
            report(name, runs)
        store.close()


if __name__ == "__main__":
    main()
