"""The reader held to real devices: ../shared/corpus (skipped when absent)."""

from __future__ import annotations

import pytest

from pipeline import Activity
from pipeline.errors import InputFileError
from schemas import RawRecords
from tests.conftest import corpus_rows, needs_corpus
from tests.corpus_cache import read_corpus

ROWS = [r for r in corpus_rows() if r["format"] in ("fit", "gpx", "tcx")]
RUNNING = [r for r in ROWS if r["sport"] == "running"]

pytestmark = needs_corpus


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["file"])
def test_every_file_is_an_activity_or_an_input_error(row):
    result = read_corpus(row["file"])
    if isinstance(result, InputFileError):
        assert row["file"] in result.path and result.reason
        return
    assert isinstance(result, Activity)
    RawRecords.validate(result.records)
    for session in result.sessions:
        RawRecords.validate(session.records)
    assert set(result.records.columns) >= set(RawRecords.to_schema().columns)


@pytest.mark.parametrize("row", [r for r in RUNNING if r["has_cadence"] == "1"],
                         ids=lambda r: r["file"])
def test_running_cadence_is_steps_per_minute(row):
    act = read_corpus(row["file"])
    if isinstance(act, InputFileError):
        pytest.skip(f"not decodable: {act.reason}")
    rec = act.records
    # "While moving" at running speed, the samples spec §5.5 uses to decide the scale.
    running = rec[(rec["speed_mps"] >= 2.2) & (rec["cadence_spm"] > 0)]
    if len(running) < 30:
        pytest.skip("too few running-speed samples")
    assert 130 <= running["cadence_spm"].median() <= 230


@pytest.mark.parametrize("row", [r for r in RUNNING if r["format"] == "fit"],
                         ids=lambda r: r["file"])
def test_fit_session_distance_matches_records(row):
    act = read_corpus(row["file"])
    if isinstance(act, InputFileError) or act.provenance.truncated:
        pytest.skip("not decodable or truncated")
    for s in act.sessions:
        d = s.records["distance_m"]
        if s.distance_m and s.distance_m > 100 and d.notna().any():
            assert d.max() - d.min() == pytest.approx(s.distance_m, rel=0.01)


def test_fit_and_gpx_exports_of_the_same_run_agree():
    fit = read_corpus("fit/sl__fr945_run_6782987395.fit")
    gpx = read_corpus("gpx/sl__garmin_connect_run_6782987395.gpx")
    assert isinstance(fit, Activity) and isinstance(gpx, Activity)
    assert fit.records["timestamp_utc"].iloc[0] == gpx.records["timestamp_utc"].iloc[0]
    assert gpx.records["distance_m"].max() == pytest.approx(fit.records["distance_m"].max(),
                                                            rel=0.01)

    def med(a: Activity) -> float:
        r = a.records
        return float(r.loc[r["speed_mps"] >= 2.2, "cadence_spm"].median())

    assert abs(med(fit) - med(gpx)) <= 2


def test_damaged_fit_keeps_records_before_the_damage():
    eof = read_corpus("fit/fitparse__sdk_activity_unexpected_eof.fit")
    crc = read_corpus("fit/fitparse__sdk_activity_bad_filecrc.fit")
    assert isinstance(eof, Activity) and eof.provenance.truncated and len(eof.records) == 14
    assert isinstance(crc, Activity) and crc.provenance.crc_ok is False
    broken = read_corpus("fit/fitparse__strava_android_run_broken.fit")
    assert isinstance(broken, Activity) and broken.provenance.truncated
    assert len(broken.records) > 100


def test_power_on_timestamps_are_never_1990_dates():
    act = read_corpus("fit/fitparse__fr70_compressed_speed_distance.fit")
    assert isinstance(act, Activity)
    assert act.records["timestamp_utc"].dt.year.min() >= 2000
    assert any("power-on" in w for w in act.provenance.warnings)


def test_undeclared_namespace_gpx_is_read():
    act = read_corpus("gpx/sl__malformed_ns_run_6037744996.gpx")
    assert isinstance(act, Activity) and len(act.records) > 1000
    assert act.records["cadence_spm"].notna().any()


def test_multisport_yields_sessions_separately():
    act = read_corpus("fit/fitparse__fr920xt_tri_multiple_headers.fit")
    assert isinstance(act, Activity)
    assert [s.sport for s in act.sessions] == ["swimming", "transition", "cycling",
                                               "transition", "running"]
    assert sum(len(s.records) for s in act.sessions) == len(act.records)
    cycling = act.sessions[2]
    assert cycling.records["cadence_spm"].isna().all()  # pedal rpm is not steps/min


def test_watch_rpe_and_splits_are_read():
    act = read_corpus("fit/gc__fr955_stryd_run.fit")
    assert isinstance(act, Activity)
    s = act.sessions[0]
    assert s.workout_rpe == 5.0 and s.workout_feel == 25
    assert "rwd_run" in set(s.splits["split_type"])
    assert act.local_offset_s == 3600.0
    assert s.avg_cadence_spm == pytest.approx(2 * (83 + 0.1875))


def test_non_activity_fit_is_unsupported():
    from pipeline.errors import UnsupportedFileError

    assert isinstance(read_corpus("fit/fitparse__edge510_settings.fit"), UnsupportedFileError)
    assert isinstance(read_corpus("gpx/gpxpy__route.gpx"), UnsupportedFileError)


@pytest.mark.parametrize("fit_name, tcx_name", [
    ("fit/sl__fr945_run_6782987395.fit", "tcx/sl__fr945_run_6782987395.tcx"),
    ("fit/gc__fr15_run_10k.fit", "tcx/gc__fr15_run_10k.tcx")])
def test_tcx_export_of_a_run_agrees_with_its_fit(fit_name, tcx_name):
    """Time, distance (the watch's odometer), heart rate and cadence as the FIT has them."""
    fit, tcx = read_corpus(fit_name), read_corpus(tcx_name)
    assert isinstance(fit, Activity) and isinstance(tcx, Activity)
    assert tcx.provenance.format == "tcx" and tcx.sport == "running"
    assert fit.records["timestamp_utc"].iloc[0] == tcx.records["timestamp_utc"].iloc[0]
    assert tcx.sessions[0].distance_m == pytest.approx(fit.sessions[0].distance_m, rel=0.002)
    assert tcx.records["heart_rate_bpm"].mean() == pytest.approx(
        fit.records["heart_rate_bpm"].mean(), rel=0.01, nan_ok=True)
    fit_run = fit.records[fit.records["speed_mps"] >= 2.2]["cadence_spm"].median()
    tcx_run = tcx.records[tcx.records["speed_mps"] >= 2.2]["cadence_spm"].median()
    assert tcx_run == pytest.approx(fit_run, abs=2, nan_ok=True)
    assert len(tcx.laps) >= 1 and tcx.laps["timer_s"].sum() > 0


def test_tcx_run_cadence_is_doubled_from_one_leg_and_laps_give_timer_time():
    act = read_corpus("tcx/sl__polar_v800_run.tcx")
    assert isinstance(act, Activity)
    assert act.provenance.cadence_scale == "per_leg"
    s = act.sessions[0]
    assert s.timer_s == pytest.approx(act.laps["timer_s"].sum())
    assert s.timer_s < s.elapsed_s  # the Polar's laps leave out its pauses


def test_tcx_without_its_root_element_is_refused_as_corrupt():
    from pipeline.errors import CorruptFileError

    err = read_corpus("tcx/runpandas__malformed.tcx")
    assert isinstance(err, CorruptFileError)
    assert "runpandas__malformed.tcx" in err.path and "TCX" in err.reason


def test_gzipped_and_zipped_tcx_read_as_the_plain_file(tmp_path):
    import gzip
    import zipfile

    from pipeline import read_activity
    from pipeline.inbox import read_zip_members
    from tests.conftest import CORPUS

    data = (CORPUS / "tcx/runpandas__fr620_run.tcx").read_bytes()
    plain = read_activity(data, "run.tcx")
    gz = read_activity(gzip.compress(data), "run.tcx.gz")
    assert gz.provenance.compression == "gzip"
    assert gz.records.equals(plain.records)
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("activities/run.tcx", data)
    (name, member), = list(read_zip_members(archive))
    assert read_activity(member, name).records.equals(plain.records)
