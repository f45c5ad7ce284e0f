"""The webhook signature: GitHub's documented test vector and refusals."""

from __future__ import annotations

from sparkwing_github.signature import sign, signature_valid

VECTOR_SECRET = "It's a Secret to Everybody"
VECTOR_BODY = b"Hello, World!"
VECTOR_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_githubs_test_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_BODY) == VECTOR_SIGNATURE
    assert signature_valid(VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE)


def test_wrong_secret_body_or_shape_is_refused() -> None:
    assert not signature_valid("another secret", VECTOR_BODY, VECTOR_SIGNATURE)
    assert not signature_valid(VECTOR_SECRET, b"Hello, World?", VECTOR_SIGNATURE)
    assert not signature_valid(VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE.removeprefix("sha256="))
    assert not signature_valid(VECTOR_SECRET, VECTOR_BODY, "sha1=" + VECTOR_SIGNATURE[7:])
    assert not signature_valid(VECTOR_SECRET, VECTOR_BODY, "")
    assert not signature_valid("", VECTOR_BODY, sign("", VECTOR_BODY))
    assert not signature_valid(VECTOR_SECRET, VECTOR_BODY, "sha256=é")
