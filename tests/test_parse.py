"""Reader behaviour on bad input: only the project's errors ever escape."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import Activity, read_activity
from pipeline.errors import (
    CorruptFileError,
    EmptyActivityError,
    InputFileError,
    UnsupportedFileError,
)
from pipeline.parse import detect_format
from schemas import RawRecords
from tests.conftest import CORPUS, SAMPLE

_SEED_FILES = [
    CORPUS / "fit" / "fitparse__sdk_Activity.fit",
    CORPUS / "fit" / "fitparse__fenix5_run_short.fit",
    CORPUS / "gpx" / "runpandas__garmin_connect_tiny.gpx",
    CORPUS / "tcx" / "runpandas__fr620_run.tcx",
    *sorted((SAMPLE / "inbox").rglob("*.fit"))[:2],
    *sorted((SAMPLE / "inbox").rglob("*.gpx"))[:1],
]
SEEDS = [p.read_bytes() for p in _SEED_FILES if p.exists() and p.stat().st_size < 400_000]


def test_detect_format_from_content_not_name():
    assert detect_format(b"") == "empty"
    assert detect_format(b"\x1f\x8b\x08") == "gzip"
    assert detect_format(b"PK\x03\x04rest") == "zip"
    assert detect_format(b"\xef\xbb\xbf<?xml version='1.0'?><gpx version='1.1'>") == "gpx"
    assert detect_format(b"hello") == "unknown"
    assert detect_format(b"<?xml version='1.0'?>\n<TrainingCenterDatabase xmlns='x'>") == "tcx"


def _tcx(points: str, sport: str = "Running", extra: str = "") -> bytes:
    return (f"<?xml version='1.0'?>{extra}<TrainingCenterDatabase "
            "xmlns='http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2' "
            "xmlns:x='http://www.garmin.com/xmlschemas/ActivityExtension/v2'><Activities>"
            f"<Activity Sport='{sport}'><Id>2026-04-01T07:00:00Z</Id>"
            "<Lap StartTime='2026-04-01T07:00:00Z'><TotalTimeSeconds>2</TotalTimeSeconds>"
            f"<DistanceMeters>6</DistanceMeters><Track>{points}</Track></Lap></Activity>"
            "</Activities></TrainingCenterDatabase>").encode()


def _point(second: int, distance: float, text: str = "&#49;40") -> str:
    return (f"<Trackpoint><Time>2026-04-01T07:00:0{second}Z</Time>"
            f"<DistanceMeters>{distance}</DistanceMeters><HeartRateBpm><Value>{text}</Value>"
            "</HeartRateBpm><Extensions><x:TPX><x:Speed>3</x:Speed><x:RunCadence>85"
            "</x:RunCadence></x:TPX></Extensions></Trackpoint>")


def test_tcx_trackpoints_read_time_distance_heart_rate_cadence_and_laps():
    act = read_activity(_tcx(_point(0, 0) + _point(1, 3) + _point(2, 6)), "a/run.tcx")
    r = act.records
    assert act.provenance.format == "tcx" and act.sport == "running"
    assert r["distance_m"].tolist() == [0, 3, 6] and r["heart_rate_bpm"].tolist() == [140] * 3
    assert act.sessions[0].timer_s == 2 and act.laps["distance_m"].tolist() == [6]
    RawRecords.validate(r)
    assert read_activity(_tcx(_point(0, 0) + _point(1, 3), "Biking")).sport == "cycling"


def test_tcx_entities_are_never_resolved():
    """A hostile TCX that declares an external entity (XXE) cannot make the reader open a
    file: the entity stays unexpanded and the value is simply missing."""
    doctype = "<!DOCTYPE r [<!ENTITY secret SYSTEM 'file:///etc/hostname'>]>"
    act = read_activity(_tcx(_point(0, 0, "&secret;") + _point(1, 3, "&secret;"), extra=doctype))
    assert act.records["heart_rate_bpm"].isna().all()


@pytest.mark.parametrize(("data", "error"), [
    (_tcx(""), EmptyActivityError),
    (_tcx(_point(0, 0)), EmptyActivityError),
    (_tcx(_point(0, 0))[:150], CorruptFileError),
    (b"<?xml version='1.0'?><TrainingCenterDatabase><Courses><Course/></Courses>"
     b"</TrainingCenterDatabase>", UnsupportedFileError),
])
def test_bad_tcx_raises_a_typed_error_naming_the_file(data, error):
    with pytest.raises(error) as info:
        read_activity(data, name="athlete/run.tcx")
    assert info.value.path == "athlete/run.tcx" and info.value.reason


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", EmptyActivityError),
        (b"just some text", UnsupportedFileError),
        (b"PK\x03\x04" + b"\0" * 30, UnsupportedFileError),
        (b"\x1f\x8b\x08\x00broken", CorruptFileError),
        (b"<?xml version='1.0'?><gpx><trk><trkseg></trkseg></trk></gpx>", EmptyActivityError),
        (b"<?xml version='1.0'?><gpx><trk><trkseg><trkpt lat='1' lon='2'>", CorruptFileError),
    ],
)
def test_bad_input_raises_typed_error_naming_the_file(data, error):
    with pytest.raises(error) as info:
        read_activity(data, name="athlete/thing.fit")
    assert info.value.path == "athlete/thing.fit" and info.value.reason


def test_missing_file_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputFileError):
        read_activity(tmp_path / "nope.fit")


@pytest.mark.skipif(not SEEDS, reason="no seed files available")
def test_gzipped_file_reads_like_the_original():
    raw = SEEDS[0]
    a, b = read_activity(raw), read_activity(gzip.compress(raw))
    assert b.provenance.compression == "gzip"
    assert a.provenance.sha256 == b.provenance.sha256
    assert a.records.equals(b.records)


def _check(data: bytes) -> None:
    try:
        act = read_activity(data, name="fuzz")
    except InputFileError:
        return
    assert isinstance(act, Activity)
    RawRecords.validate(act.records)


@pytest.mark.skipif(not SEEDS, reason="no seed files available")
# A few hundred cases in `make test`; `make fuzz` runs many more (COMEBACK_FUZZ_EXAMPLES).
@settings(max_examples=int(os.environ.get("COMEBACK_FUZZ_EXAMPLES", "300")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mutated_real_files_raise_only_project_errors(data):
    seed = data.draw(st.sampled_from(SEEDS))
    kind = data.draw(st.sampled_from(["truncate", "flip", "splice", "random"]))
    if kind == "truncate":
        mutated = seed[: data.draw(st.integers(0, len(seed)))]
    elif kind == "flip":
        buf = bytearray(seed)
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(buf) - 1))
            buf[i] ^= 1 << data.draw(st.integers(0, 7))
        mutated = bytes(buf)
    elif kind == "splice":
        other = data.draw(st.sampled_from(SEEDS))
        i, j = data.draw(st.integers(0, len(seed))), data.draw(st.integers(0, len(other)))
        mutated = seed[:i] + other[j:]
    else:
        mutated = seed[:14] + data.draw(st.binary(min_size=0, max_size=2000))
    _check(mutated)


def test_a_field_a_damaged_definition_made_an_array_stays_one_cell():
    """Found by fuzzing: a definition that gives the event's data field several values made
    the trigger column two-dimensional, and building the events frame crashed."""
    from pipeline.activity import NAT, TIMER_EVENT_COLUMNS
    from pipeline.parse import _messages

    times = np.array([1_000_000_000, 2_000_000_000, NAT], dtype="int64")
    table = _messages("timestamp_utc", TIMER_EVENT_COLUMNS,
                      {"event_type": ["start", "stop_all", "start"],
                       "trigger": [[0, 0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]]},
                      {"timestamp_utc": times})
    assert len(table) == 2 and table.column("trigger").shape == (2,)
    assert table.frame["trigger"].tolist() == [[0, 0, 0, 0], [0, 0, 0, 0]]


def test_a_bug_in_our_code_propagates_instead_of_quarantining_the_file(monkeypatch):
    """Only the decoders' own errors become input errors; a fault in Comeback's code is a
    bug, and the night must fail loudly rather than quarantine a good file."""
    from pipeline.parse import fit as fit_module

    data = next((SAMPLE / "inbox" / "ana").glob("*running.fit")).read_bytes()

    def broken(*_args, **_kwargs):
        raise KeyError("a bug in Comeback")

    monkeypatch.setattr(fit_module, "_collect", broken)
    with pytest.raises(KeyError, match="a bug in Comeback"):
        read_activity(data, name="ok.fit", decoder="fitparse")


def test_a_decoder_fault_on_damaged_bytes_is_still_an_input_error(monkeypatch):
    from pipeline.parse import fit as fit_module

    data = next((SAMPLE / "inbox" / "ana").glob("*running.fit")).read_bytes()

    def damaged(_data):
        raise __import__("struct").error("unpack requires a buffer of 4 bytes")
        yield  # a generator, as fitparse's messages are

    monkeypatch.setattr(fit_module, "_messages", damaged)
    with pytest.raises(CorruptFileError, match=r"ok\.fit: FIT data cannot be decoded"):
        read_activity(data, name="ok.fit", decoder="fitparse")


def test_an_unknown_decoder_is_a_configuration_error():
    from pipeline.errors import ArgumentError

    with pytest.raises(ArgumentError, match="decoder must be"):
        read_activity(b"", name="x.fit", decoder="nope")
