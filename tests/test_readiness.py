"""Daily readiness: the watch's wellness files, wellness.csv, the day's resting heart rate in
TRIMP, and the readiness flags."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from pipeline.athletes import read_roster
from pipeline.errors import NotAnActivityError
from pipeline.load import banister_trimp
from pipeline.parse import read_wellness
from pipeline.readiness import daily_readiness, read_wellness_csv, wellness_readings
from pipeline.recompute import recompute, refresh_checkins, refresh_wellness
from pipeline.store import Store
from tests.conftest import CORPUS, SAMPLE, needs_corpus
from tests.helpers import ingest_all, small_inbox

WEEK = SAMPLE / "inbox" / "ana" / "2026-03-16_ana_wellness.fit"  # ana's odd mornings


def test_a_wellness_fit_gives_each_morning_resting_hr_sleep_and_hrv():
    roster = read_roster(SAMPLE / "inbox" / "athletes.csv")
    readings = wellness_readings(read_wellness(WEEK), "ana", WEEK.name, "k", roster["ana"])
    day = readings.set_index("date")
    assert len(day) == 7 and day.index.min() == pd.Timestamp("2026-03-16")
    assert day.loc["2026-03-18", "resting_hr_bpm"] == 63
    assert day.loc["2026-03-20", "sleep_h"] == pytest.approx(5.2)
    assert day["sleep_h"].drop(pd.Timestamp("2026-03-20")).between(7.0, 7.8).all()
    assert day["hrv_ms"].between(55, 70).all()
    gz = wellness_readings(read_wellness(gzip.compress(WEEK.read_bytes())), "ana", WEEK.name,
                           "k", roster["ana"])
    assert gz.equals(readings)


def test_the_wellness_reader_agrees_with_the_garmin_sdk():
    """fitparse (ours) and the FIT SDK's own decoder read the same resting heart rates."""
    from garmin_fit_sdk import Decoder, Stream

    messages, errors = Decoder(Stream.from_byte_array(bytearray(WEEK.read_bytes()))).read()
    assert errors == []
    sdk = [m["resting_heart_rate"] for m in messages["monitoring_hr_data_mesgs"]]
    ours = [bpm for _, bpm in read_wellness(WEEK).resting_hr_bpm]
    assert ours == sdk and len(ours) == 7


@needs_corpus
def test_a_monitoring_file_without_readiness_is_refused_saying_so():
    with pytest.raises(NotAnActivityError) as info:
        read_wellness(CORPUS / "fit" / "fitparse__sdk_MonitoringFile.fit")
    assert "monitoring_b" in info.value.reason and "no resting heart rate" in info.value.reason


def test_wellness_csv_bad_cells_are_problems_and_the_row_stays(tmp_path):
    path = tmp_path / "wellness.csv"
    path.write_text("date,resting_hr_bpm,hrv_ms,sleep_h,soreness_0_10,note\n"
                    "2026-04-01,55,61,lots,2,late\n"
                    "not a day,55,,7,,\n"
                    "2026-04-02,250,,7,11,\n"
                    "2026-04-01,54,,6.5,,again\n")
    readings, problems = read_wellness_csv(path, "kim", "sha")
    day = readings.set_index("date")
    assert day.loc["2026-04-01", "sleep_h"] == 6.5  # the later row of a date wins
    assert pd.isna(day.loc["2026-04-02", "resting_hr_bpm"])
    assert day.loc["2026-04-02", "sleep_h"] == 7
    cells = {(p["line"], p["column"]) for p in problems}
    assert cells == {(2, "sleep_h"), (3, "date"), (4, "resting_hr_bpm"), (4, "soreness_0_10"),
                     (5, "date")}


def test_daily_readiness_prefers_the_athletes_entry_and_compares_with_the_week_before():
    rows = [{"athlete_id": "kim", "date": pd.Timestamp(f"2026-04-0{d}"), "source": "w.fit",
             "file_key": "f", "resting_hr_bpm": 50.0 + (9 if d == 8 else 0), "sleep_h": 7.0}
            for d in range(1, 9)]
    rows.append({"athlete_id": "kim", "date": pd.Timestamp("2026-04-08"),
                 "source": "kim/wellness.csv", "file_key": "c", "sleep_h": 5.0, "note": "ok"})
    day = daily_readiness(pd.DataFrame(rows)).set_index("date")
    assert day.loc["2026-04-08", "sleep_h"] == 5.0  # the athlete's own entry
    assert day.loc["2026-04-08", "resting_hr_bpm"] == 59  # the watch's, where the CSV is silent
    assert day.loc["2026-04-08", "resting_hr_median_7d_bpm"] == 50
    assert day.loc["2026-04-08", "resting_hr_rise_bpm"] == 9
    assert pd.isna(day.loc["2026-04-02", "resting_hr_median_7d_bpm"])  # fewer than 3 days before
    assert day.loc["2026-04-08", "sources"] == "w.fit, kim/wellness.csv"


def test_trimp_uses_the_days_resting_heart_rate(tmp_path):
    """Banister TRIMP with the morning's 70 bpm from wellness.csv instead of the roster's 54."""
    csv_text = "date,resting_hr_bpm,hrv_ms,sleep_h,soreness_0_10,note\n2026-02-04,70,,5.5,,\n"
    inbox = small_inbox(tmp_path, n=2, extra={"wellness.csv": csv_text.encode()})
    store = Store(tmp_path / "store")
    ingest_all(store, inbox)
    roster = read_roster(inbox / "athletes.csv")
    before = store.table("sessions").set_index("local_date")
    refresh_checkins(store, inbox, roster)
    refresh_wellness(store, inbox, roster)
    recompute(store, roster, roster)
    after = store.table("sessions").set_index("local_date")
    day, other = pd.Timestamp("2026-02-04"), pd.Timestamp("2026-02-02")
    assert before.loc[day, "trimp_hr_rest_bpm"] == 54 and after.loc[day, "trimp_hr_rest_bpm"] == 70
    rec = store.records(after.loc[day, "activity_id"])
    rec = rec[~rec["paused"]]
    ana = roster["ana"]
    assert after.loc[day, "trimp_banister"] == pytest.approx(banister_trimp(
        rec["heart_rate_bpm"], rec["duration_s"], 70.0, ana.hr_max_bpm, ana.sex))
    assert after.loc[day, "trimp_banister"] < before.loc[day, "trimp_banister"]
    assert after.loc[other, "trimp_banister"] == before.loc[other, "trimp_banister"]
    flags = store.table("flags", "ana")
    short = flags[flags["rule_id"] == "SLEEP_SHORT"]
    assert short["date"].tolist() == [day] and short.iloc[0]["evidence"] == (
        "5.5 h asleep the night before")
    assert short.iloc[0]["severity"] == "info"
