"""Records of partitions Faust will not take go back to aiokafka (agents.transport)."""

from __future__ import annotations

from collections import namedtuple

from agents.transport import return_unwanted

Record = namedtuple("Record", "offset")


def test_unwanted_partitions_are_removed_and_seeked_to_their_first_record() -> None:
    records = {
        ("orders", 0): [Record(5), Record(6)],
        ("orders", 4): [Record(332), Record(333), Record(334)],
        ("changelog", 4): [Record(10)],
    }
    seeks: list[tuple[tuple[str, int], int]] = []
    kept = return_unwanted(
        records, lambda tp: tp == ("orders", 0), lambda tp, offset: seeks.append((tp, offset))
    )
    assert kept == {("orders", 0): [Record(5), Record(6)]}
    assert sorted(seeks) == [(("changelog", 4), 10), (("orders", 4), 332)]


def test_all_wanted_leaves_records_and_positions_alone() -> None:
    records = {("orders", 1): [Record(1)]}
    seeks: list[object] = []
    assert return_unwanted(records, lambda tp: True, lambda *a: seeks.append(a)) == records
    assert seeks == []


def test_an_empty_batch_needs_no_seek() -> None:
    seeks: list[object] = []
    assert return_unwanted({("orders", 2): []}, lambda tp: False, lambda *a: seeks.append(a)) == {}
    assert seeks == []
