"""The log record format helpers."""

from __future__ import annotations

import json
import random

import pytest
from sparkwing.storage.logrecord import (
    format_output_bytes,
    format_output_lines,
    format_output_text,
    format_ts,
    make_record,
    mask_secrets,
    parse_record,
    parse_ts,
)

T = 1_795_455_703.123456  # 2026-11-23T17:41:43.123456Z


def test_format_ts() -> None:
    assert format_ts(T) == "2026-11-23T17:41:43.123456Z"
    assert format_ts(0) == "1970-01-01T00:00:00.000000Z"
    assert format_ts(59.9999996) == "1970-01-01T00:01:00.000000Z"  # rounds into the next second
    assert format_ts(1.5) == "1970-01-01T00:00:01.500000Z"


def test_parse_ts_inverts_format_ts() -> None:
    assert parse_ts(format_ts(T)) == pytest.approx(T, abs=1e-6)
    assert parse_ts("2026-11-23T17:41:43Z") == 1_795_455_703
    assert parse_ts("2026-11-23T17:41:43.5+00:00") == 1_795_455_703.5
    assert parse_ts("2026-11-23T17:41:43.123456789Z") == pytest.approx(T, abs=1e-6)
    for bad in ("2026-11-23T17:41:43", "2026-11-23 17:41:43Z", "2026-11-23T17:41:43.x1Z"):
        with pytest.raises(ValueError):
            parse_ts(bad)


def test_make_record_order_and_omission() -> None:
    line = make_record(
        "built", level="warn", node="build", step="compile", event="step_end",
        attrs={"duration_ms": 12, "outcome": "success"}, ts=T,
    )
    assert line == (
        '{"ts":"2026-11-23T17:41:43.123456Z","level":"warn","node":"build","step":"compile",'
        '"event":"step_end","msg":"built","attrs":{"duration_ms":12,"outcome":"success"}}'
    )
    assert make_record("plain", ts=T) == (
        '{"ts":"2026-11-23T17:41:43.123456Z","level":"info","msg":"plain"}'
    )
    assert "\n" not in make_record("two\nlines", ts=T)
    assert json.loads(make_record("héllo ✓", ts=T))["msg"] == "héllo ✓"
    assert "héllo ✓" in make_record("héllo ✓", ts=T)  # UTF-8, not \\u escapes


def test_make_record_rejects_unknown_levels_and_stringifies_odd_attrs() -> None:
    with pytest.raises(ValueError):
        make_record("x", level="warning")
    rec = json.loads(make_record("x", attrs={"path": object.__new__(type("P", (), {}))}, ts=T))
    assert isinstance(rec["attrs"]["path"], str)
    assert json.loads(make_record("x", attrs={"s": {1, 2}}, ts=T))["attrs"]["s"] == "{1, 2}"


def test_parse_record_fills_defaults_and_tolerates_junk() -> None:
    rec = parse_record(make_record("m", node="n", ts=T) + "\n")
    assert rec == {
        "ts": "2026-11-23T17:41:43.123456Z", "level": "info", "node": "n", "step": "",
        "event": "", "msg": "m", "attrs": {},
    }
    assert parse_record('{"msg":"x","extra":1}')["extra"] == 1
    junk = parse_record("not json at all")
    assert junk["msg"] == "not json at all"
    assert junk["level"] == "info"
    assert parse_record("[1, 2]")["msg"] == "[1, 2]"


@pytest.mark.parametrize(
    "line",
    ["plain", 'quotes " and \\ backslash', "tab\there", "bell\x07 esc\x1b[31m", "日本語 ✓ \U0001f680",
     "embedded\nnewline", "\u2028 line separator", "trailing space "],
)
def test_output_lines_match_make_record(line: str) -> None:
    batch = format_output_lines("build/linux", "compile", [line, line], T)
    expected = make_record(line, node="build/linux", step="compile", event="exec_line", ts=T)
    assert batch == expected + "\n" + expected + "\n"


def test_output_lines_shape() -> None:
    assert format_output_lines("n", "s", [], T) == ""
    batch = format_output_lines("", "", ["", "x"], T, level="error")
    first, second = batch.splitlines()
    assert json.loads(first) == {
        "ts": "2026-11-23T17:41:43.123456Z", "level": "error", "event": "exec_line", "msg": "",
    }
    assert json.loads(second)["msg"] == "x"
    assert batch.endswith("\n")
    assert len(format_output_lines("n", "s", (f"l{i}" for i in range(1000)), T).splitlines()) == 1000
    with pytest.raises(ValueError):
        format_output_lines("n", "s", ["x"], T, level="fatal")


@pytest.mark.parametrize(
    "lines",
    [
        [""],  # one empty line
        ["", "", ""],
        ["plain", "line 000001 " + "x" * 67],  # nothing to escape: framed as it is
        ['quotes " here', "tab\there", "cr\rin the middle", "esc\x1b[31mred\x1b[0m", "nul\x00"],
        ["back\\slash", "ends with backslash\\", "\\n is not a newline", 'both \\" and "'],
        ["\\", "x"],  # a backslash alone, then a line that is clean
        ["日本語 ✓ \U0001f680", "\ufffd replaced byte", "\u2028 \x7f kept"],
        ["lone surrogate \udc80"],
        ["unicode ✓ and a quote \"", "\x01"],
    ],
)
def test_output_text_matches_output_lines(lines: list[str]) -> None:
    text = "\n".join(lines)
    expected = format_output_lines("build/linux", "compile", lines, T)
    assert format_output_text("build/linux", "compile", text, T) == expected
    assert format_output_text("", "", text, T, "warn") == format_output_lines("", "", lines, T, "warn")
    assert [json.loads(r)["msg"] for r in expected.split("\n")[:-1]] == lines


def test_output_text_of_many_lines_and_bad_level() -> None:
    lines = [f"line {i:06d} " + "x" * 67 for i in range(5000)]
    lines[2500] = 'one "quoted" line'
    for batch in (lines, [x.replace("x", "\\") for x in lines]):
        text = "\n".join(batch)
        assert format_output_text("n", "", text, T) == format_output_lines("n", "", batch, T)
    with pytest.raises(ValueError):
        format_output_text("n", "s", "x", T, level="fatal")


def reference_records(node: str, step: str, lines: list[str], level: str = "info") -> bytes:
    """``exec_line`` records written with ``json.dumps``, one line each, UTF-8."""
    out = []
    for line in lines:
        rec = {"ts": "2026-11-23T17:41:43.123456Z", "level": level, **({"node": node} if node else {}),
               **({"step": step} if step else {}), "event": "exec_line", "msg": line}
        out.append(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
    return "".join(out).encode()


@pytest.mark.parametrize("node,step,level", [("build/linux", "compile", "info"), ("", "", "warn"),
                                             ("n", "", "error"), ("", "s", "debug")])
def test_output_bytes_are_the_text_records_encoded(node: str, step: str, level: str) -> None:
    pieces = [b"a", b"line 000001 ", b"x" * 67, b"\n", b"\n\n", b" ", b"/", b"'", b"{}", b"\x7f",
              b'"', b"\\", b"\r", b"\t", b"\x00", b"\x1b", b"\x1f", "\u00e9".encode(), b"\xff"]
    rng = random.Random(5)
    framed = declined = 0
    for _ in range(3000):
        # mostly plain pieces, so both outcomes are common
        data = b"".join(rng.choice(pieces[:10] if rng.random() < 0.6 else pieces)
                        for _ in range(rng.randint(0, 12)))
        got = format_output_bytes(node, step, data, T, level)
        plain = data.isascii() and not any((c < 0x20 and c != 0x0A) or c in b'"\\' for c in data)
        if not plain:
            assert got is None, data
            declined += 1
            continue
        framed += 1
        text = data.decode()
        assert got == format_output_text(node, step, text, T, level).encode(), data
        assert got == reference_records(node, step, text.split("\n"), level), data
    assert framed > 500 and declined > 500


def test_output_bytes_of_many_lines() -> None:
    lines = [f"line {i:06d} " + "x" * 67 for i in range(20_000)]
    data = "\n".join(lines).encode()
    assert format_output_bytes("out", "", data, T) == reference_records("out", "", lines)
    assert format_output_bytes("out", "", data + b'"', T) is None
    assert format_output_bytes("out", "", data.replace(b"x", "\u00e9".encode()), T) is None


def test_output_text_in_pieces_matches_output_lines() -> None:
    # longer than a piece: framed piece by piece, clean pieces as they are
    choices = ["", "x" * 70, 'a "quote"', "y" * 100_000, "back\\slash", "plain line"]
    rng = random.Random(3)
    for _ in range(20):
        lines = [rng.choice(choices) for _ in range(rng.randint(1, 3000))]
        text = "\n".join(lines)
        assert format_output_text("n", "s", text, T) == format_output_lines("n", "s", lines, T)


def test_mask_secrets() -> None:
    assert mask_secrets("token=abc123 and abc", ["abc", "abc123"]) == "token=*** and ***"
    assert mask_secrets("nothing here", ["", "zzz"]) == "nothing here"
    assert mask_secrets("-----BEGIN\nKEY\n-----END done", ["-----BEGIN\nKEY\n-----END"]) == "*** done"
    assert mask_secrets("aaaa", ["aa"]) == "******"


def test_make_record_writes_what_the_json_encoder_would() -> None:
    from sparkwing.storage.logrecord import format_ts

    tricky = ['plain', 'q"uote\\ and \t tab', "ctl \x01\x1f\x7f", "é 𝄞 \u2028", "<\u00ff>", "x" * 300]
    for text in tricky:
        for attrs in (None, {"k": text, "n": 1.5, "l": [None, True]}, {"o": object()}):
            got = make_record(text, level="warn", node=text, step=text, event=text,
                              attrs=attrs, ts=1_800_000_000.25)
            rec: dict[str, object] = {"ts": format_ts(1_800_000_000.25), "level": "warn",
                                      "node": text, "step": text, "event": text, "msg": text}
            if attrs:
                rec["attrs"] = json.loads(json.dumps(attrs, default=str))
            assert got == json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
    assert make_record(ts=1.0) == '{"ts":"1970-01-01T00:00:01.000000Z","level":"info"}'
