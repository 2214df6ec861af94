from __future__ import annotations

import pytest

from pipelines.ingest import DataError
from pipelines.split import split_by_time


def test_split_is_time_ordered_and_disjoint(deliveries) -> None:
    frame = deliveries(n=100).sample(frac=1, random_state=3)  # shuffled input
    frame["delayed"] = [0, 1] * 50
    s = split_by_time(frame, "pickup_time", "delayed", 0.2, 0.2)
    assert (len(s.train), len(s.valid), len(s.holdout)) == (60, 20, 20)
    assert s.train["pickup_time"].max() <= s.valid["pickup_time"].min()
    assert s.valid["pickup_time"].max() <= s.holdout["pickup_time"].min()
    ids = [set(p["delivery_id"]) for p in (s.train, s.valid, s.holdout)]
    assert not (ids[0] & ids[1] or ids[1] & ids[2] or ids[0] & ids[2])


def test_split_with_a_single_class_slice_names_it(deliveries) -> None:
    frame = deliveries(n=100)
    frame["delayed"] = 0
    frame.loc[:10, "delayed"] = 1  # all positives in the oldest rows
    with pytest.raises(DataError, match=r"split 'valid' .* single class of 'delayed'"):
        split_by_time(frame, "pickup_time", "delayed", 0.2, 0.2)
