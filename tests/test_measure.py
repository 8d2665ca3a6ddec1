"""Measuring files outside the store: records validated per activity."""

from __future__ import annotations

import pytest

from tests.helpers import INBOX


def test_stacked_records_are_checked_activity_by_activity():
    import pandera.errors

    from pipeline.measure import _stacked_records, measure_file
    from schemas import GaitRecords, as_built

    fits = sorted((INBOX / "ana").glob("*running.fit"))[:2]
    measured = [measure_file(p.read_bytes(), p.name, "ana", None) for p in fits]
    records = [m.records for m in measured]
    schema = as_built(GaitRecords)  # what ingest validates with
    # Two activities stacked: the second's clock starts again (each is increasing).
    schema.validate(_stacked_records(records[::-1]))
    (aid, cols), = records[0].items()
    times = cols["timestamp_utc"].copy()
    times[10] = times[9]  # a repeated timestamp inside one activity
    with pytest.raises(pandera.errors.SchemaError, match="strictly increasing"):
        schema.validate(_stacked_records([{aid: {**cols, "timestamp_utc": times}}, records[1]]))
    # A column of another dtype is refused, not converted (the model itself would convert).
    narrow = {aid: {**cols, "speed_mps": cols["speed_mps"].astype("float32")}}
    GaitRecords.validate(_stacked_records([narrow]))
    with pytest.raises(pandera.errors.SchemaError, match="float64"):
        schema.validate(_stacked_records([narrow]))
