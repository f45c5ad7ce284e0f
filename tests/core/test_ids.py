"""Run ids sort chronologically; node ids are validated and sanitised."""

from __future__ import annotations

import pytest
from sparkwing.errors import PlanError
from sparkwing.ids import is_run_id, new_run_id, node_filename, validate_node_id


def test_run_ids_have_the_documented_shape_and_sort_by_time() -> None:
    base = 1_790_000_000.0
    ids = [new_run_id(base + i * 0.0011) for i in range(1500)]
    assert all(is_run_id(i) for i in ids)
    assert ids == sorted(ids)
    assert new_run_id(0.5).startswith("run-19700101-000000-1f4")
    # 20 random bits per millisecond: 200 ids of one millisecond collide about 2% of the time,
    # so the test asks for nearly all distinct (a lost random part makes them all equal)
    assert len(set(new_run_id(base) for _ in range(200))) >= 195


@pytest.mark.parametrize("bad", ["", "/abs", "a/../b", "a//b", "..", "a\\b", "x\ny", "a/."])
def test_bad_node_ids_are_refused(bad: str) -> None:
    with pytest.raises(PlanError):
        validate_node_id(bad)


def test_node_file_names_are_sanitised() -> None:
    assert node_filename("build/linux") == "build__linux"
    assert node_filename('a:b*c?d"e<f>g|h') == "a__b__c__d__e__f__g__h"
