"""Check-in files: bad rows reported with line and column, good rows kept, missing stays missing."""

from __future__ import annotations

import pandas as pd

from pipeline.checkins import read_checkins


def test_bad_checkin_rows_are_reported_and_good_rows_kept(tmp_path):
    path = tmp_path / "checkins.csv"
    path.write_text("athlete_id,date,warmup,during,next_day,pain_during,rpe,note\n"
                    "ana,2026-02-02,none,none,none,1,3,fine\n"
                    "ana,2026-02-04,sore,none,none,1,3,\n"
                    "ana,02/06/2026,none,none,none,1,3,\n"
                    "ana,2026-02-09,none,,MUSCULAR,12,3,\n"
                    "ana,2026-02-11,,,,,,\n")
    result = read_checkins(path, "ana")
    assert list(result.checkins["date"].dt.day) == [2, 11]
    kept = result.checkins.iloc[1]
    assert pd.isna(kept["warmup"]) and pd.isna(kept["next_day"])  # missing stays missing
    probs = {(p["line"], p["column"]) for p in result.problems.to_dict("records")}
    assert probs == {(3, "warmup"), (4, "date"), (5, "pain_during")}
