"""The generated sample squad: manifest-driven, decoded twice, byte-reproducible."""

from __future__ import annotations

import csv
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pipeline import Activity, read_activity
from pipeline import errors as errors_module
from tests.conftest import SAMPLE

MANIFEST = list(csv.DictReader((SAMPLE / "manifest.csv").open()))
ACTIVITIES = [r for r in MANIFEST if r["kind"] in ("activity", "duplicate")]
INVALID = [r for r in MANIFEST if r["kind"] == "invalid"]


def _bytes(row: dict[str, str]) -> bytes:
    path = row["path"]
    if "!" in path:
        archive, member = path.split("!")
        with zipfile.ZipFile(SAMPLE / archive) as zf:
            return zf.read(member)
    return (SAMPLE / path).read_bytes()


def _read(row: dict[str, str]) -> Activity:
    return read_activity(_bytes(row), name=row["path"])


def test_squad_shape():
    athletes = {r["athlete_id"] for r in ACTIVITIES}
    assert athletes == {"ana", "ben", "cara", "dev"}
    for a in athletes:  # eleven weeks of the default programme; four of the gentle one
        dates = sorted(r["local_date"] for r in ACTIVITIES if r["athlete_id"] == a)
        span = np.datetime64(dates[-1]) - np.datetime64(dates[0])
        assert span >= np.timedelta64(25 if a == "dev" else 70, "D")


@pytest.mark.parametrize("row", ACTIVITIES, ids=lambda r: r["path"])
def test_manifest_expectations_hold(row):
    act = _read(row)
    s = act.sessions[0]
    if row["truncated"]:
        assert act.provenance.truncated
        return
    assert s.sport == row["sport"]
    assert s.elapsed_s == pytest.approx(float(row["elapsed_s"]), abs=1.5)
    rec = act.records
    assert rec["distance_m"].max() == pytest.approx(float(row["distance_m"]), rel=0.02)
    if row["cadence_spm"]:
        running = rec.loc[rec["speed_mps"].between(2.2, 8), "cadence_spm"]
        assert running.median() == pytest.approx(float(row["cadence_spm"]), abs=3)


@pytest.mark.parametrize("row", INVALID, ids=lambda r: r["path"])
def test_invalid_files_raise_their_error(row):
    error = getattr(errors_module, row["expect_error"])
    with pytest.raises(error):
        _read(row)


@pytest.mark.parametrize("row", [r for r in ACTIVITIES if r["format"] == "fit"][::6],
                         ids=lambda r: r["path"])
def test_fit_decodes_the_same_with_garmin_sdk(row):
    from garmin_fit_sdk import Decoder, Stream

    data = _bytes(row)
    if data[:2] == b"\x1f\x8b":
        import gzip

        data = gzip.decompress(data)
    msgs, errs = Decoder(Stream.from_byte_array(bytearray(data))).read(
        convert_datetimes_to_dates=False, convert_types_to_strings=True)
    assert not errs
    sdk = msgs["record_mesgs"]
    ours = _read(row).records
    assert len(sdk) == len(ours)
    assert [r["heart_rate"] for r in sdk] == ours["heart_rate_bpm"].astype(int).tolist()
    np.testing.assert_allclose([r["distance"] for r in sdk], ours["distance_m"], atol=0.01)
    spm = [2 * (r["cadence"] + r.get("fractional_cadence", 0)) for r in sdk]
    np.testing.assert_allclose(spm, ours["cadence_spm"], atol=1e-9)


def test_zip_bulk_export_holds_several_activities():
    zips = list((SAMPLE / "inbox").rglob("*.zip"))
    assert zips
    with zipfile.ZipFile(zips[0]) as zf:
        names = zf.namelist()
        assert len(names) >= 3
        act = read_activity(zf.read(names[0]), name=names[0])
    assert act.sport == "running"


def test_odd_cases_present():
    kinds = {(r["kind"], r["format"]) for r in MANIFEST}
    assert ("duplicate", "gpx") in kinds
    assert any(r["path"].endswith(".gz") for r in MANIFEST)
    assert any(r["truncated"] for r in MANIFEST)
    assert any(r["sport"] == "cycling" for r in MANIFEST)


def test_regenerating_gives_byte_identical_files(tmp_path: Path):
    subprocess.run([sys.executable, str(SAMPLE / "generate.py"), str(tmp_path)], check=True,
                   capture_output=True)
    expected = (SAMPLE / "SHA256SUMS").read_text()
    assert expected.count("\n") > 100
    assert (tmp_path / "SHA256SUMS").read_text() == expected
