import numpy as np
import pandas as pd
import pytest

from pipeline.cadence import decide_cadence_scale, repair_cadence
from pipeline.units import (
    cadence256_to_spm,
    fit_cadence_to_spm,
    haversine_m,
    semicircles_to_degrees,
)


def test_semicircles_to_degrees():
    assert semicircles_to_degrees(2**30) == pytest.approx(90.0)


def test_fit_cadence_79_plus_64_over_128_is_159_spm():  # spec §5.2 worked
    assert fit_cadence_to_spm(79, 64 / 128) == 159.0


def test_cadence256_20352_is_159_spm():  # spec §5.2 worked
    assert cadence256_to_spm(20352 / 256) == 159.0  # as decoded: rpm


def test_the_fit_reader_converts_cadence_through_these_functions(monkeypatch):
    """The tests above guard what production runs: the reader's cadence is theirs."""
    from pipeline.parse import fit as fit_module
    from pipeline.parse import read_activity
    from tests.conftest import SAMPLE

    data = next((SAMPLE / "inbox" / "ana").glob("*running.fit")).read_bytes()
    before = read_activity(data, name="a.fit").records["cadence_spm"]
    monkeypatch.setattr(fit_module, "fit_cadence_to_spm", lambda rpm, frac=0.0: 2.1 * (rpm + frac))
    after = read_activity(data, name="a.fit").records["cadence_spm"]
    assert np.nanmedian(after) == pytest.approx(1.05 * np.nanmedian(before), rel=0.005)


def test_haversine_one_degree_of_latitude():
    assert haversine_m(np.array([0.0]), np.array([0.0]), np.array([1.0]), np.array([0.0]))[0] == (
        pytest.approx(111_195, rel=1e-3))


@pytest.mark.parametrize(
    ("values", "source", "expected"),
    [
        (np.full(40, 85.0), "gpx", ("per_leg", 2.0)),   # Garmin Connect export: one leg
        (np.full(40, 170.0), "gpx", ("spm", 1.0)),      # Strava export: steps/min
        (np.full(40, 170.0), "fit", ("per_leg", 1.0)),  # FIT doubled at read: fine
        (np.full(40, 340.0), "fit", ("spm", 0.5)),      # device wrote spm into the leg field
        (np.full(40, 20.0), "gpx", ("implausible", np.nan)),
    ],
)
def test_cadence_scale_detection_both_ways(values, source, expected):
    scale, factor = decide_cadence_scale(values, np.full(40, 2.6), source)
    assert scale == expected[0]
    assert factor == expected[1] or (np.isnan(factor) and np.isnan(expected[1]))


def test_cadence_scale_walking_only_gpx_uses_walking_ranges():
    assert decide_cadence_scale(np.full(40, 55.0), np.full(40, 1.4), "gpx") == ("per_leg", 2.0)
    assert decide_cadence_scale(np.full(40, 110.0), np.full(40, 1.4), "gpx") == ("spm", 1.0)
    assert decide_cadence_scale(np.full(10, 110.0), np.full(10, 1.4), "gpx")[0] == "unknown"


def test_half_cadence_dropout_repaired_and_isolated_left():  # spec §5.5 step 2 worked
    cad = pd.Series([170.0] * 30 + [84, 85, 86, 84, 85, 86, 84, 85] + [170.0] * 30
                    + [85.0] + [170.0] * 20)
    out = repair_cadence(cad, pd.Series(2.6, index=cad.index))
    assert out.iloc[30:38].between(168, 172).all()
    assert out.iloc[68] == 85.0  # isolated: left to the median filter
    assert cad.iloc[30] == 84  # input untouched


def test_zero_cadence_while_moving_is_missing():
    out = repair_cadence(pd.Series([160.0, 0.0, 160.0]), pd.Series([2.5, 2.5, 2.5]))
    assert np.isnan(out.iloc[1])
