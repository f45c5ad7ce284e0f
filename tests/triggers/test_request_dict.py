"""A run request as its trigger row stores it: the dict, and back."""

from __future__ import annotations

from pathlib import Path

from sparkwing.triggers.request import RunRequest, TriggerMeta


def test_to_dict_names_every_field_and_copies_nested_values() -> None:
    extra = {"pr": {"number": 7}}
    req = RunRequest("build", inputs={"tags": ["a"]}, git_ref="main", git_sha="abc",
                     trigger=TriggerMeta("github", "octo", "push", "d-1", extra),
                     idempotency_key="k", workdir=Path("/p"), profile="team")
    d = req.to_dict()
    assert d == {
        "pipeline": "build", "inputs": {"tags": ["a"]}, "git_ref": "main", "git_sha": "abc",
        "trigger": {"source": "github", "actor": "octo", "event": "push", "delivery_id": "d-1",
                    "extra": {"pr": {"number": 7}}},
        "idempotency_key": "k", "workdir": "/p", "profile": "team",
    }
    d["trigger"]["extra"]["pr"]["number"] = 8
    d["inputs"]["tags"].append("b")
    assert extra["pr"]["number"] == 7 and req.inputs["tags"] == ["a"]
    assert RunRequest.from_dict(req.to_dict()) == req


def test_defaults_round_trip() -> None:
    req = RunRequest("hello")
    assert req.to_dict()["workdir"] == "" and req.to_dict()["trigger"]["source"] == "manual"
    assert RunRequest.from_dict(req.to_dict()) == req
    assert req.replace(profile="x").profile == "x" and req.profile == ""
