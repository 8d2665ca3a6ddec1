"""Session layer: one row per run/walk bout (Segments) and one per activity session."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.records import GAIT_LABELS

ACTIVITY_KINDS = ("run", "walk", "cross_training", "other")

CADENCE_SCALES = ("per_leg", "spm", "implausible", "unknown")


class Segments(pa.DataFrameModel):
    """One bout: consecutive samples with the same gait label (spec §6.3)."""

    activity_id: Series[str]
    segment_index: Series[int] = pa.Field(ge=0)
    gait: Series[str] = pa.Field(isin=list(GAIT_LABELS))
    start_s: Series[float] = pa.Field(ge=0)
    duration_s: Series[float] = pa.Field(ge=0)
    distance_m: Series[float] = pa.Field(ge=0, nullable=True)
    cadence_spm_median: Series[float] = pa.Field(nullable=True)
    speed_mps_mean: Series[float] = pa.Field(nullable=True)

    class Config:
        coerce = True


class Sessions(pa.DataFrameModel):
    """One activity session with what a physiotherapist asks of it (spec §0, §2, §5, §6)."""

    activity_id: Series[str] = pa.Field(unique=True)
    athlete_id: Series[str]
    sport: Series[str]
    sub_sport: Series[str] = pa.Field(nullable=True)
    kind: Series[str] = pa.Field(isin=list(ACTIVITY_KINDS))
    kind_note: Series[str] = pa.Field(nullable=True)
    start_utc: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs={"unit": "ns", "tz": "UTC"})
    local_date: Series[pd.Timestamp]
    local_offset_s: Series[float] = pa.Field(nullable=True)
    elapsed_s: Series[float] = pa.Field(ge=0)
    timer_s: Series[float] = pa.Field(ge=0)
    moving_s: Series[float] = pa.Field(ge=0)
    distance_m: Series[float] = pa.Field(ge=0, nullable=True)
    run_distance_m: Series[float] = pa.Field(ge=0, nullable=True)
    main_set_distance_m: Series[float] = pa.Field(ge=0, nullable=True)
    run_s: Series[float] = pa.Field(ge=0)
    walk_s: Series[float] = pa.Field(ge=0)
    stop_s: Series[float] = pa.Field(ge=0)
    pause_s: Series[float] = pa.Field(ge=0)
    run_walk_ratio: Series[float] = pa.Field(nullable=True)
    main_set_ratio: Series[float] = pa.Field(nullable=True)
    run_recovery_ratio: Series[float] = pa.Field(nullable=True)
    per_cycle_ratio: Series[float] = pa.Field(nullable=True)
    n_runs: Series[int] = pa.Field(ge=0)
    run_bout_s_median: Series[float] = pa.Field(nullable=True)
    recovery_s_median: Series[float] = pa.Field(nullable=True)
    pattern: Series[str] = pa.Field(nullable=True)
    pattern_regular: Series[bool]
    warmup_s: Series[float] = pa.Field(ge=0)
    cooldown_s: Series[float] = pa.Field(ge=0)
    cadence_spm_median: Series[float] = pa.Field(nullable=True)
    cadence_scale: Series[str] = pa.Field(isin=list(CADENCE_SCALES))
    heart_rate_bpm_mean: Series[float] = pa.Field(nullable=True)
    load_duration_min: Series[float] = pa.Field(ge=0)
    load_run_min: Series[float] = pa.Field(ge=0)
    load_distance_km: Series[float] = pa.Field(ge=0, nullable=True)
    trimp_banister: Series[float] = pa.Field(ge=0, nullable=True)
    trimp_edwards: Series[float] = pa.Field(ge=0, nullable=True)
    trimp_missing_reason: Series[str] = pa.Field(nullable=True)
    # The resting heart rate Banister TRIMP used: the day's own (readiness) or the roster's.
    trimp_hr_rest_bpm: Series[float] = pa.Field(ge=25, le=120, nullable=True)
    rpe_cr10: Series[float] = pa.Field(ge=0, le=10, nullable=True)
    rpe_source: Series[str] = pa.Field(nullable=True)
    srpe_au: Series[float] = pa.Field(ge=0, nullable=True)
    watch_split_agreement: Series[float] = pa.Field(ge=0, le=1, nullable=True)
    source_format: Series[str]
    device: Series[str] = pa.Field(nullable=True)
    sha256: Series[str]
    truncated: Series[bool]
    duplicate_of: Series[str] = pa.Field(nullable=True)

    class Config:
        coerce = True
