"""Session: one activity session measured the way a physiotherapist asks (spec §0, §2, §6).

``measure_session`` runs clean → gait → segments → summary for one session of an Activity
and returns the three layers together.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from pipeline.activity import Activity, Columns, MessageTable, SessionSummary, sport_kind, to_frame
from pipeline.athletes import Athlete
from pipeline.clean import CleanConfig, clean_columns, timer_pauses
from pipeline.gait import GaitConfig, gait_labels, segments_of, watch_labels
from pipeline.load import banister_trimp, edwards_trimp, session_rpe
from schemas import CleanRecords, GaitRecords, RawRecords, Segments, Sessions

__all__ = [
    "IntervalStructure",
    "SessionResult",
    "activity_id_for",
    "interval_structure",
    "local_date",
    "measure_session",
    "session_kind",
    "sessions_frame",
]

# A session of unnamed sport whose "running" samples are faster than this one time in ten
# (90th percentile) is not a run: 23 km/h is beyond any runner but a sprinter's seconds,
# while rides reach it (corpus: GPX rides 6.7–7.7 m/s, GPX runs 3.1–6.3 m/s) [PRODUCT].
MAX_RUNNING_SPEED_MPS = 6.5
# A "running" recording with less running than this (and at least 5 minutes of moving) is a
# walk recorded as a run: the larger of 60 s and 5 % of the moving time [PRODUCT].
WALK_AS_RUN_MOVING_S = 300.0


@dataclass(frozen=True)
class IntervalStructure:
    """Run/walk structure of a session (spec §6.4–6.5). Times in seconds."""

    run_s: float
    walk_s: float
    stop_s: float
    pause_s: float
    run_walk_ratio: float | None
    main_set_ratio: float | None
    run_recovery_ratio: float | None
    per_cycle_ratio: float | None
    run_bouts_s: tuple[float, ...]
    recoveries_s: tuple[float, ...]
    warmup_s: float
    cooldown_s: float
    main_set_distance_m: float | None
    pattern: str | None
    regular: bool

    @property
    def n_runs(self) -> int:
        return len(self.run_bouts_s)


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def _round15(seconds: float) -> int:
    return int(15 * round(seconds / 15))


def _cv(values: np.ndarray) -> float:
    return float(np.std(values) / np.mean(values)) if len(values) and np.mean(values) > 0 else 0.0


def _floats(column: pd.Series | np.ndarray) -> np.ndarray:
    if isinstance(column, pd.Series):
        return column.to_numpy(dtype="float64", na_value=np.nan)
    return np.asarray(column, dtype="float64")


def interval_structure(segments: pd.DataFrame | Columns) -> IntervalStructure:
    """Totals, ratios, warm-up/cool-down and the detected pattern from a Segments table
    (a frame, or its columns as :func:`~pipeline.gait.segments_of` gives them)."""
    start = _floats(segments["start_s"])
    # Segments come in start order from segments_of; a table from elsewhere is sorted.
    order = slice(None) if bool((np.diff(start) >= 0).all()) else np.argsort(start, kind="stable")
    gait = np.asarray(segments["gait"], dtype=str)[order]
    duration = _floats(segments["duration_s"])[order]
    distance = _floats(segments["distance_m"])[order]

    def total(label: str, lo: int = 0, hi: int = len(gait)) -> float:
        return float(duration[lo:hi][gait[lo:hi] == label].sum())

    runs = np.flatnonzero(gait == "run")
    run_bouts = duration[runs]
    if len(runs):
        lo, hi = int(runs[0]), int(runs[-1]) + 1  # the main set: first run to last run
        warmup, cooldown = float(duration[:lo].sum()), float(duration[hi:].sum())
        recoveries = np.array([duration[a + 1: b].sum() for a, b in itertools.pairwise(runs)])
        main_dist = float(np.nansum(distance[lo:hi])) if (~np.isnan(distance[lo:hi])).any() \
            else None
    else:
        lo = hi = 0
        warmup, cooldown, recoveries, main_dist = float(duration.sum()), 0.0, np.array([]), None
    run_s, walk_s = total("run"), total("walk")
    main_walk = total("walk", lo, hi)
    main_recovery = main_walk + total("stop", lo, hi) + total("pause", lo, hi)
    pattern, regular, per_cycle = None, False, None
    if len(run_bouts) >= 2:
        med_run, med_rec = float(np.median(run_bouts)), float(np.median(recoveries))
        pattern = f"{_round15(med_run)} s run : {_round15(med_rec)} s walk × {len(run_bouts)}"
        regular = len(run_bouts) >= 3 and _cv(run_bouts) <= 0.25 and _cv(recoveries) <= 0.35
        per_cycle = _ratio(med_run, med_rec)
    elif len(run_bouts) == 1:
        pattern = f"{_round15(float(run_bouts[0]))} s continuous run"
    return IntervalStructure(
        run_s=run_s, walk_s=walk_s, stop_s=total("stop"), pause_s=total("pause"),
        run_walk_ratio=_ratio(run_s, walk_s),
        main_set_ratio=_ratio(run_s, main_walk),
        run_recovery_ratio=_ratio(run_s, main_recovery), per_cycle_ratio=per_cycle,
        run_bouts_s=tuple(float(x) for x in run_bouts),
        recoveries_s=tuple(float(x) for x in recoveries), warmup_s=warmup, cooldown_s=cooldown,
        main_set_distance_m=main_dist, pattern=pattern, regular=regular,
    )


def local_date(start_utc: pd.Timestamp, local_offset_s: float | None,
               timezone: str | None) -> dt.date:
    """The athlete's calendar date of a session start (spec §0).

    The file's own local offset wins (FIT ``activity.local_timestamp``); else the athlete's
    timezone from the roster, DST included (zoneinfo); else UTC.
    """
    if local_offset_s is not None and not np.isnan(local_offset_s):
        return (start_utc + pd.Timedelta(seconds=local_offset_s)).date()
    if timezone:
        return start_utc.tz_convert(timezone).date()
    return start_utc.date()


def activity_id_for(sha256: str, session_index: int) -> str:
    """Content-addressed id: the same bytes always give the same activity id."""
    return f"{sha256[:16]}-{session_index}"


@dataclass(frozen=True)
class SessionResult:
    """The three layers measured from one session.

    ``row`` is the Sessions row as plain values and ``record_columns`` the samples as arrays;
    ``session`` and ``records`` are their frames, built on first use (a batch stacks many
    sessions' rows and columns into one frame instead).
    """

    row: dict[str, Any]
    record_columns: Columns  # GaitRecords as arrays (timestamps as int64 UTC ns)
    segment_columns: Columns  # Segments as arrays
    structure: IntervalStructure
    validated: bool = True

    @cached_property
    def session(self) -> pd.DataFrame:
        """One Sessions row (validated when ``measure_session`` was asked to validate)."""
        frame = sessions_frame([self.row])
        return Sessions.validate(frame) if self.validated else frame

    @cached_property
    def records(self) -> pd.DataFrame:
        """The GaitRecords frame (validated when ``measure_session`` was asked to validate)."""
        frame = to_frame(self.record_columns, self.record_columns)
        return GaitRecords.validate(frame) if self.validated else frame

    @cached_property
    def segments(self) -> pd.DataFrame:
        """The Segments frame (validated when ``measure_session`` was asked to validate)."""
        frame = pd.DataFrame(self.segment_columns)
        return Segments.validate(frame) if self.validated else frame


def sessions_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Session rows (``SessionResult.row``) stacked into one frame, not yet validated."""
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else None)


def session_kind(sport: str, st: IntervalStructure,
                 run_speed_mps: float | None) -> tuple[str, str | None]:
    # ``run_speed_mps``: the 90th percentile of the speed of the samples labelled running.
    """What a session counts as (``run``, ``walk``, ``cross_training``, ``other``), and a
    note when the recording overrides or supplies what the file says.

    The file's sport decides, except that a run in which no running was found is a walk,
    and a session of unnamed sport (FIT ``generic``, a GPX without a type) is what its
    gait shows: running, walking, or neither (nor a run faster than any runner moves).
    """
    kind = sport_kind(sport)
    moving = st.run_s + st.walk_s
    if kind == "run" and moving >= WALK_AS_RUN_MOVING_S and st.run_s < max(60.0, 0.05 * moving):
        return "walk", (f"recorded as a run, but only {st.run_s:.0f} s of {moving / 60:.0f} "
                        "moving minutes reached running: counted as a walk")
    if kind is not None:
        return kind, None
    if run_speed_mps is not None and run_speed_mps > MAX_RUNNING_SPEED_MPS:
        return "other", (f"sport not recorded; one sample in ten moved faster than "
                         f"{run_speed_mps * 3.6:.0f} km/h, beyond running: not counted as a run")
    if st.run_s >= 60.0 or (st.run_s > 0 and st.walk_s < 60.0):
        return "run", None
    if st.walk_s > 0:
        return "walk", "sport not recorded; walking and no running detected"
    return "other", "sport not recorded and no movement on foot detected"


def _trimp(hr: np.ndarray, duration: np.ndarray,
           athlete: Athlete | None) -> tuple[float | None, float | None, str | None]:
    """TRIMPs over moving samples (``hr``, ``duration`` already without paused rows)."""
    if np.isnan(hr).all():
        return None, None, "no heart rate recorded"
    if athlete is None or athlete.hr_max_bpm is None or athlete.hr_rest_bpm is None:
        return None, None, "athlete's resting and maximum heart rate unknown"
    edwards = edwards_trimp(hr, duration, athlete.hr_max_bpm)
    if athlete.sex is None:
        return None, edwards, "sex unknown: Banister constants need an explicit choice"
    banister = banister_trimp(hr, duration, athlete.hr_rest_bpm, athlete.hr_max_bpm, athlete.sex)
    return banister, edwards, None


def measure_session(activity: Activity, index: int, athlete_id: str,
                    athlete: Athlete | None = None, *, checkin_rpe: float | None = None,
                    clean_config: CleanConfig | None = None,
                    gait_config: GaitConfig | None = None,
                    validate: bool = True) -> SessionResult:
    """Measure one session of an activity.

    Args:
        activity: What the reader decoded.
        index: Which of ``activity.sessions``.
        athlete_id: Owner of the file (its inbox folder).
        athlete: Roster entry, for timezone and heart-rate values; None if unknown.
        checkin_rpe: The athlete's RPE from the check-in; the watch's own RPE is used otherwise.
        validate: Check every layer against its Pandera model. Batch ingest turns this off
            and validates the batch's tables once, which is what makes it fast.

    Returns:
        The session row, gait-labelled records and segments.
    """
    s = activity.sessions[index]
    aid = activity_id_for(activity.provenance.sha256, index)
    if validate:
        RawRecords.validate(s.records)
    # The stages run on numpy columns; the GaitRecords frame is built once, at the end.
    events, splits = s.timer_event_table, s.split_table
    pauses = timer_pauses(events.column("timestamp_utc"), events.column("event_type"))
    clean, order = clean_columns(s.record_columns, pauses, clean_config)
    if validate:
        CleanRecords.validate(to_frame(clean, order))
    labels, agreement = _gait(clean, splits, gait_config)
    clean["gait"] = labels
    gait = {name: clean[name] for name in [*order, "gait"]}
    segments = segments_of(gait, aid)
    st = interval_structure(segments)
    rpe, rpe_source = (checkin_rpe, "checkin") if checkin_rpe is not None else (
        (s.workout_rpe, "watch") if s.workout_rpe is not None else (None, None))
    row = _session_row(activity, s, aid, athlete_id, athlete, clean, segments, st)
    row.update({"rpe_cr10": rpe, "rpe_source": rpe_source,
                "srpe_au": session_rpe(rpe, row["timer_s"] / 60.0),
                "watch_split_agreement": agreement})
    result = SessionResult(row=row, record_columns=gait, segment_columns=segments, structure=st,
                           validated=validate)
    if validate:  # raise here, not at first use, when a layer breaks its model
        _ = result.session, result.records, result.segments
    return result


def _gait(clean: Columns, splits: MessageTable,
          gait_config: GaitConfig | None) -> tuple[np.ndarray, float | None]:
    """Gait label per record, and how far the data's labels agree with the watch's splits.

    Where the watch recorded run/walk splits they decide the label inside their span; the
    agreement is the share of covered, unpaused time the data alone labels the same way.
    """
    paused, duration = clean["paused"], clean["duration_s"]
    data_labels = gait_labels(clean["speed_mps"], clean["cadence_spm"], paused, duration,
                              gait_config)
    watch = watch_labels(clean["timestamp_utc"], splits.column("split_type"),
                         splits.column("start_utc"), splits.column("end_utc"))
    covered = pd.notna(watch)
    if not covered.any():
        return data_labels, None
    labels = gait_labels(clean["speed_mps"], clean["cadence_spm"], paused, duration,
                         gait_config, watch=watch)
    cover = covered & ~paused
    agreement = float(duration[cover][data_labels[cover] == watch[cover]].sum()
                      / duration[cover].sum())
    return labels, agreement


def _session_row(activity: Activity, s: SessionSummary, aid: str, athlete_id: str, athlete: Athlete | None,
                 clean: Columns, segments: Columns, st: IntervalStructure) -> dict[str, Any]:
    """The session's summary row from its cleaned, labelled columns (missing values skipped)."""
    paused, duration, labels = clean["paused"], clean["duration_s"], clean["gait"]
    # Summary statistics on the arrays; missing values are skipped as pandas would.
    moving = ~paused
    cadence = clean["cadence_spm"][labels == "run"]
    cadence = cadence[~np.isnan(cadence)]
    dist = clean["distance_m"]
    has_distance = not np.isnan(dist).all()
    distance = float(np.nanmax(dist) - np.nanmin(dist)) if has_distance else None
    seg_dist = segments["distance_m"][segments["gait"] == "run"]
    run_distance = float(np.nansum(seg_dist)) if has_distance else None
    elapsed = float(duration.sum())
    timer = elapsed - st.pause_s
    hr = clean["heart_rate_bpm"]
    banister, edwards, trimp_reason = _trimp(hr[moving], duration[moving], athlete)
    run_speed = clean["speed_mps"][(labels == "run") & ~np.isnan(clean["speed_mps"])]
    kind, kind_note = session_kind(s.sport, st, float(np.percentile(run_speed, 90))
                                   if len(run_speed) else None)
    return {
        "activity_id": aid, "athlete_id": athlete_id, "sport": s.sport,
        "sub_sport": s.sub_sport, "kind": kind, "kind_note": kind_note,
        "start_utc": s.start_utc,
        "local_date": pd.Timestamp(local_date(s.start_utc, activity.local_offset_s,
                                              athlete.timezone if athlete else None)),
        "local_offset_s": activity.local_offset_s,
        "elapsed_s": elapsed, "timer_s": timer, "moving_s": st.run_s + st.walk_s,
        "distance_m": distance, "run_distance_m": run_distance,
        "main_set_distance_m": st.main_set_distance_m,
        "run_s": st.run_s, "walk_s": st.walk_s, "stop_s": st.stop_s, "pause_s": st.pause_s,
        "run_walk_ratio": st.run_walk_ratio, "main_set_ratio": st.main_set_ratio,
        "run_recovery_ratio": st.run_recovery_ratio, "per_cycle_ratio": st.per_cycle_ratio,
        "n_runs": st.n_runs,
        "run_bout_s_median": float(np.median(st.run_bouts_s)) if st.run_bouts_s else None,
        "recovery_s_median": float(np.median(st.recoveries_s)) if st.recoveries_s else None,
        "pattern": st.pattern, "pattern_regular": st.regular,
        "warmup_s": st.warmup_s, "cooldown_s": st.cooldown_s,
        "cadence_spm_median": float(np.median(cadence)) if len(cadence) else None,
        "cadence_scale": activity.provenance.cadence_scale,
        "heart_rate_bpm_mean": float(np.nanmean(hr)) if not np.isnan(hr).all() else None,
        "load_duration_min": timer / 60.0, "load_run_min": st.run_s / 60.0,
        "load_distance_km": distance / 1000.0 if distance is not None else None,
        "trimp_banister": banister, "trimp_edwards": edwards,
        "trimp_missing_reason": trimp_reason,
        "trimp_hr_rest_bpm": athlete.hr_rest_bpm if banister is not None and athlete else None,
        "source_format": activity.provenance.format, "device": activity.device.label(),
        "sha256": activity.provenance.sha256, "truncated": activity.provenance.truncated,
        "duplicate_of": None,
    }


def apply_checkin_rpe(sessions: pd.DataFrame, checkins: pd.DataFrame) -> pd.DataFrame:
    """Use the athlete's check-in RPE (spec §2.2) where one exists for the session's day.

    The check-in wins over the watch's own RPE; sRPE is recomputed. Returns a new frame.
    """
    if sessions.empty or checkins.empty:
        return sessions
    answered = checkins.dropna(subset=["rpe"]).assign(local_date=lambda c: pd.to_datetime(c["date"]))
    rpe = answered.drop_duplicates(["athlete_id", "local_date"]).set_index(
        ["athlete_id", "local_date"])["rpe"]
    key = pd.MultiIndex.from_arrays([sessions["athlete_id"], pd.to_datetime(sessions["local_date"])])
    found = pd.Series(rpe.reindex(key).to_numpy(), index=sessions.index)
    out = sessions.assign(
        rpe_cr10=found.where(found.notna(), sessions["rpe_cr10"]),
        rpe_source=pd.Series("checkin", index=sessions.index).where(found.notna(),
                                                                     sessions["rpe_source"]))
    return out.assign(srpe_au=(out["rpe_cr10"] * out["load_duration_min"]).astype("float64"))
