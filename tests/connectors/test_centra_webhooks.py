"""Centra webhook signatures: the documented test vector, forgery, staleness, rotation, malformed bodies."""

from __future__ import annotations

import json

import pytest

from lockstep.connectors.centra.translate import decode_webhook_payload as decode_payload
from lockstep.connectors.centra.webhooks import InvalidSignature, signature_header, verify
from tests.shared_spec import SPEC_DIR

VECTOR = SPEC_DIR / "examples" / "centra" / "webhooks"


@pytest.fixture(scope="module")
def vector() -> dict:
    return json.loads((VECTOR / "signature-test-vector.json").read_text())


def test_documented_example_verifies(vector):
    header = vector["header"].split(": ", 1)[1]
    raw = vector["raw_body"].encode()
    ts = int(vector["timestamp"])
    assert verify(header, raw, [vector["endpoint_secret"]], now=ts + 10) == ts
    assert signature_header(vector["endpoint_secret"], ts, raw) == header
    assert decode_payload(raw) == vector["decoded_payload"]


def test_forged_tampered_and_stale_signatures_are_refused(vector):
    header = vector["header"].split(": ", 1)[1]
    raw = vector["raw_body"].encode()
    ts = int(vector["timestamp"])
    with pytest.raises(InvalidSignature, match="does not match"):
        verify(header, raw, ["wrong-secret"], now=ts)
    with pytest.raises(InvalidSignature, match="does not match"):
        verify(header, raw.replace(b"test", b"tost"), [vector["endpoint_secret"]], now=ts)
    with pytest.raises(InvalidSignature, match="replay window"):
        verify(header, raw, [vector["endpoint_secret"]], now=ts + 301)
    with pytest.raises(InvalidSignature, match="missing"):
        verify(None, raw, [vector["endpoint_secret"]], now=ts)
    with pytest.raises(InvalidSignature, match="lacks"):
        verify("v1=abc", raw, [vector["endpoint_secret"]], now=ts)


def test_either_secret_works_during_rotation():
    raw = b"payload=%7B%7D"
    header = signature_header("new-secret", 1000, raw)
    assert verify(header, raw, ["old-secret", "new-secret"], now=1000) == 1000


@pytest.mark.parametrize("body", [b"payload=%7Bnot-json", b"other=1", b"\xff\xfe", b"payload=%5B1%5D"])
def test_malformed_bodies_give_one_line_reasons(body):
    with pytest.raises(ValueError) as raised:
        decode_payload(body)
    assert "\n" not in str(raised.value)
