"""Thresholds shared across the library, each with its source (STYLE §13).

Every rule threshold lives in :class:`RuleConfig`; thresholds that several stages read (the
speed that counts as running, the neutral ACWR bands) are module constants here, so one
number has one home.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ACWR_BANDS", "RUNNING_SPEED_MPS", "RuleConfig"]

# Speed-only running threshold (spec §6.2): gait labels without cadence, and the cadence
# scale decision's "this sample is running" test.
RUNNING_SPEED_MPS = 2.2

# Neutral labels on the uncoupled ACWR (spec §1.6 rule 2): a ratio up to each bound gets its
# label (the first bound is exclusive: below 0.75); above the last, "well above recent".
ACWR_BANDS: tuple[tuple[float, str], ...] = (
    (0.75, "below your recent load"), (1.44, "similar to recent"), (1.80, "above recent"))
ACWR_ABOVE_BANDS = "well above recent"


@dataclass(frozen=True)
class RuleConfig:
    """Every threshold of the rules, with its source. Override per athlete with ``replace``.

    Attributes:
        spike_small / spike_moderate / spike_large: relative increase over the longest run of
            the previous 30 days above which a session is a small / moderate / large spike
            (Frandsen 2025: >10 %, >30 %, >100 %; boundaries belong to the lower class).
        spike_window_days: baseline window (30 days, Frandsen 2025).
        week_info / week_caution: weekly progression above which WEEK_GT10 (10 % rule, info)
            and WEEK_GT30 (Nielsen 2014, caution) fire.
        acwr_info: uncoupled ACWR above which ACWR_HIGH (information only) fires (≈ coupled 1.5).
        min_rest_days_between_runs: S1, one full rest day between runs (Crowell 2023).
        max_run_days_per_7: S2, three runs per rolling 7 days (UD allows 4).
        min_completions: S3, each stage completed at least twice (Crowell 2023).
        min_days_between_advances: S4, one stage advance per 7 days (UD soreness rules).
        pain_green_max / pain_amber_max: S8 pain gate (UW Health ≤ 3/10; 4–5 repeat; > 5 stop).
        rpe_tolerance: S7, session RPE ≤ stage target + 1.
        frequency_goal: S5, run days a week the post-programme phase grows toward (3 → 5;
            OhioHealth "4–5 per week", the athlete's goal up to 6).
        post_days_in_row / post_guard_weeks: S5, no more than 2 run days in a row for the
            first 6 weeks after the programme (OhioHealth).
        volume_step: S6, once the frequency goal is reached the session distance grows by
            this share a week, one variable at a time [PRODUCT; 10 % keeps clear of the
            Nielsen 30 % weekly threshold].
        low_chronic_fraction: chronic below this share of phase-1 weekly load → low confidence.
        resting_hr_rise_bpm / sleep_short_h: on a run day, a resting heart rate this far above
            the median of the 7 days before, or a night shorter than this, is an information
            flag (RESTING_HR_HIGH, SLEEP_SHORT) [PRODUCT; readiness, not a diagnosis].
    """

    spike_small: float = 0.10
    spike_moderate: float = 0.30
    spike_large: float = 1.00
    spike_window_days: int = 30
    week_info: float = 0.10
    week_caution: float = 0.30
    acwr_info: float = ACWR_BANDS[-1][0]
    min_rest_days_between_runs: int = 1
    max_run_days_per_7: int = 3
    min_completions: int = 2
    min_days_between_advances: int = 7
    pain_green_max: float = 3.0
    pain_amber_max: float = 5.0
    rpe_tolerance: float = 1.0
    frequency_goal: int = 5
    post_days_in_row: int = 2
    post_guard_weeks: int = 6
    volume_step: float = 0.10
    low_chronic_fraction: float = 0.25
    resting_hr_rise_bpm: float = 7.0
    sleep_short_h: float = 6.0
