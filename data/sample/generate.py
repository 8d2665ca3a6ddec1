"""Generate Comeback's sample squad: real FIT and GPX files from a fixed seed.

Three athletes follow the default walk-run program (Crowell et al. 2023, spec §3.4) for
eleven weeks from Monday 2026-02-02:

* ``ana``  (Europe/Berlin, mornings) comes back smoothly: every other day, clean check-ins.
* ``ben``  (America/New_York, 21:30 local, so the UTC date is the next day; US DST starts
  2026-03-08 inside the period) pushes too hard: back-to-back days, five runs in a week, a
  session spike beyond his stage, and a run during a mandated rest.
* ``cara`` (Europe/London, lunchtime) reports soreness that fires every Delaware rule
  (R1, R2, R3, R4, X1, M, R5 with muscle soreness) and the clinician-review escalations;
  nobody acknowledges the review, so she stays at stage 1 from then on.

``ana`` completes the programme and enters the post-programme phase (one more run day a
week). ``dev`` (Europe/Dublin, evenings) follows the built-in ``gentle`` programme for four
weeks: brisk walks complete its S9 walking stage, then swelling, increasing pain and
stiffness each hold an otherwise clean run/walk session.

Everything a watch records: ana also rides a bike and swims in one week (cross-training, never
running load) and her watch writes a weekly wellness file (resting heart rate, sleep, overnight
HRV) with one high morning resting heart rate and one short night before run days; ben's
watch exports no wellness data, so he keeps a ``wellness.csv`` (with one short night before a
run and one cell he mistyped).

Odd but real cases: one of ana's runs also exported as GPX, a gzipped FIT,
a zip bulk export, a FIT truncated mid-run (battery died), a FIT settings file (not an
activity), and ``invalid/`` files each paired with the error the reader must raise.

Run ``python data/sample/generate.py [OUT_DIR]``. The output is byte-identical for the same
seed (``SHA256SUMS`` lists it). Needs ``garmin-fit-sdk`` (a development dependency only).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import math
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import gpxpy.gpx
import numpy as np
from garmin_fit_sdk import Encoder, Profile
from scipy.signal import lfilter

SEED = 20261121
PROGRAM_START = dt.date(2026, 2, 2)
WEEKS = 11
FIT_EPOCH = 631_065_600
MESG = Profile["mesg_num"]
HERE = Path(__file__).resolve().parent

# Crowell et al. 2023 Table 1: run s, walk s, total m, target RPE.
STAGES = {
    1: (180, 120, 1609, 3), 2: (180, 120, 2414, 3), 3: (240, 120, 2414, 4),
    4: (240, 120, 3219, 4), 5: (240, 60, 3219, 5), 6: (None, 0, 3219, 5),
}
# The gentle programme (pipeline/programs/gentle.csv): a 30 min brisk walk, 1 min run /
# 2 min walk for 30 min, then Crowell's stages: run s, walk s, total m, target RPE, total s.
GENTLE: dict[int, tuple[int | None, int, int | None, int, int | None]] = {
    1: (0, 1800, None, 3, 1800), 2: (60, 120, None, 3, 1800),
    **{k + 2: (*v, None) for k, v in STAGES.items()}}
WARMUP_S, COOLDOWN_S = 300, 180


@dataclass(frozen=True)
class Athlete:
    athlete_id: str
    name: str
    timezone: str
    sex: str
    hr_rest_bpm: int
    hr_max_bpm: int
    local_time: dt.time
    origin: tuple[float, float]
    serial: int


ATHLETES = (
    Athlete("ana", "Ana Weber", "Europe/Berlin", "female", 54, 188, dt.time(7, 30),
            (52.5200, 13.4050), 3_900_000_001),
    Athlete("ben", "Ben Okafor", "America/New_York", "male", 58, 192, dt.time(21, 30),
            (40.7829, -73.9654), 3_900_000_002),
    Athlete("cara", "Cara Doyle", "Europe/London", "female", 60, 185, dt.time(12, 15),
            (51.5073, -0.1657), 3_900_000_003),
    Athlete("dev", "Dev Malik", "Europe/Dublin", "male", 62, 190, dt.time(18, 45),
            (53.3498, -6.2603), 3_900_000_004),
)
# Roster settings (empty = default): program, injured area, cadence target.
SETTINGS = {"ana": ("", "right Achilles tendon", ""), "ben": ("", "left shin (MTSS)", ""),
            "cara": ("", "right knee (ACL reconstruction)", ""),
            "dev": ("gentle", "left knee (patellofemoral pain)", "+5%")}


@dataclass
class Plan:
    """One planned session and the story around it."""

    day: int
    stage: int
    checkin: tuple[str | None, str | None, str | None] = ("none", "none", "none")
    rpe: float | None = None
    run_s: int | None = None
    walk_s: int | None = None
    total_m: float | None = None
    sport: str = "running"
    pause: bool = False
    splits: bool = False
    export: str = "fit"
    expect: str = ""
    pain: tuple[float | None, float | None, float | None] = (1, 1, 0)
    swelling: bool | None = None  # None: swelling exactly when next-day soreness is non-muscular
    stiffness: bool | None = None
    program: str = "crowell"
    note: str = ""
    extras: dict[str, str] = field(default_factory=dict)


def _program_days(first: int, stage: int, last_change: int,
                  uncounted: frozenset[int] = frozenset(), advance: bool = True) -> list[Plan]:
    """Mon/Wed/Fri runs from ``first`` on, advancing as the program allows: two completions
    at the stage and 7 days since the last change (S3, S4). ``uncounted`` days do not
    complete their stage (a truncated recording). After stage 6 the programme is completed
    and the post-programme phase adds a run day a week only after a week with as many run
    days as prescribed (3 Mon/Wed/Fri runs reach 4 run days once, never 5). ``advance`` False:
    a clinician review is open, nothing advances."""
    plans, clean, post, freq = [], 0, False, 3
    for day in range(first, WEEKS * 7):
        if day % 7 not in (0, 2, 4):
            continue
        p = Plan(day, stage, rpe=float(STAGES[stage][3]))
        if day not in uncounted and advance:
            clean += 1
        week = sum(1 for q in plans if q.day > day - 7) + 1
        if clean >= 2 and day - last_change >= 7 and advance:
            if stage < 6:
                stage, last_change, clean = stage + 1, day, 0
                p.expect = "ADVANCE"
            elif not post:
                post, last_change, clean = True, day, 0
                p.expect = "ADVANCE"
            elif week >= freq:
                freq, last_change, clean = freq + 1, day, 0
                p.expect = "ADVANCE"
        plans.append(p)
    return plans


def _smooth_plan() -> list[Plan]:
    plans = _program_days(0, 1, 0)
    plans[4].checkin = ("none", "none", "muscular")
    plans[7].export = "fit+gpx"
    plans[7].note = "same run exported twice (FIT and GPX)"
    plans[10].pause = True
    plans[13].splits = True
    plans.append(Plan(33, 0, checkin=(None, None, None), sport="cycling", note="cycling"))
    plans.append(Plan(34, 0, checkin=(None, None, None), sport="swimming", note="pool swim"))
    for q in plans:  # the readiness days of ana's wellness files (see ANA_READINESS)
        if q.day in ANA_READINESS and q.sport == "running":
            q.expect = ";".join(filter(None, [q.expect, ANA_READINESS[q.day][0]]))
    return sorted(plans, key=lambda p: p.day)


# ana's odd mornings: (flag on that run day, resting HR bpm, hours asleep the night before).
ANA_READINESS = {44: ("RESTING_HR_HIGH", 63, 7.4), 46: ("SLEEP_SHORT", 55, 5.2)}
# ben's wellness.csv: the run day after a short night, and a mistyped cell.
BEN_SHORT_NIGHT_RUN, BEN_TYPO_DAY = 2, 5


def _pusher_plan() -> list[Plan]:
    s1, s2, s3 = 1, 2, 3
    plans = [
        Plan(0, s1), Plan(2, s1), Plan(4, s1), Plan(7, s1, expect="ADVANCE"),
        Plan(8, s2, expect="CONSECUTIVE_DAYS;FREQ_EXCEEDED"),
        Plan(10, s2, expect="FREQ_EXCEEDED"), Plan(12, s2, expect="FREQ_EXCEEDED"),
        Plan(13, s2, expect="CONSECUTIVE_DAYS;FREQ_EXCEEDED"),
        Plan(16, s2, expect="ADVANCE;FREQ_EXCEEDED", export="zip"),
        Plan(18, s3, expect="FREQ_EXCEEDED", export="zip"), Plan(20, s3, export="zip"),
        Plan(23, s3, run_s=540, walk_s=60, total_m=6400, rpe=7,
             expect="SPIKE_LARGE;STAGE_EXCEEDED;INTENSITY_EARLY",
             note="ran far beyond his stage"),
        Plan(25, s3, expect="ADVANCE"),
        Plan(28, 4, checkin=("persisted", None, None), expect="R1",
             note="sore in the warm-up and it stayed"),
        Plan(29, 3, expect="RAN_DURING_REST;CONSECUTIVE_DAYS;FREQ_EXCEEDED;PAIN_RISING",
             pain=(3, 3, 2),
             note="ran the next day, during the 2 days off"),
    ]
    plans += _program_days(32, 3, 28)
    plans[-1].checkin = (None, None, None)
    plans[-1].expect = ";".join(filter(None, [plans[-1].expect, "M"]))
    short = plans[BEN_SHORT_NIGHT_RUN]  # his wellness.csv gives the night before 5.5 h
    short.expect = ";".join(filter(None, [short.expect, "SLEEP_SHORT"]))
    for p in plans:
        p.rpe = p.rpe if p.rpe is not None else float(STAGES[p.stage][3])
    return plans


def _soreness_plan() -> list[Plan]:
    n = "none"
    plans = [
        Plan(0, 1), Plan(2, 1, checkin=(n, n, "muscular")), Plan(4, 1),
        Plan(7, 1, expect="ADVANCE"),
        Plan(9, 2, checkin=("resolved", n, n), expect="R2"),
        Plan(11, 2, checkin=(n, n, "non_muscular"), expect="R4;SWELLING;PAIN_RISING",
             pain=(2, 3, 3)),
        Plan(14, 2, checkin=("resolved", "returned", "non_muscular"),
             expect="R3;R4;PAIN_GATE;SWELLING", pain=(4, 4, 3)),
        Plan(17, 1, checkin=(None, n, n), expect="M"),
        Plan(19, 1, checkin=("persisted", None, None), expect="R1;CLINICIAN_REVIEW;PAIN_GATE",
             pain=(4, None, None)),
        Plan(22, 1, checkin=(n, "new", n), expect="X1;CLINICIAN_REVIEW;PAIN_GATE;PAIN_RISING",
             pain=(1, 4, 2)),
    ]
    truncated_day = 35
    plans += _program_days(25, 1, 22, uncounted=frozenset({truncated_day}), advance=False)
    plans[12].export = "gz"
    cut = next(p for p in plans if p.day == truncated_day)
    cut.export = "truncated"
    cut.note = "watch battery died mid-run"
    for p in plans:
        p.rpe = float(STAGES[p.stage][3])
    return plans


def _gentle_plan() -> list[Plan]:
    """Four weeks of the gentle programme: the entry walk, then held sessions."""
    def g(day: int, stage: int, **kw: object) -> Plan:
        return Plan(day, stage, program="gentle", rpe=float(GENTLE[stage][3]),
                    sport="walking" if GENTLE[stage][0] == 0 else "running", **kw)  # type: ignore[arg-type]

    return [
        g(0, 1), g(2, 1), g(4, 1), g(7, 1, expect="ADVANCE", note="walking stage completed"),
        g(9, 2, swelling=True, expect="SWELLING", note="swelling, otherwise a clean session"),
        g(11, 2),
        g(14, 2, pain=(1, 3, 3), expect="PAIN_RISING", note="pain 1 during, 3 after and next morning"),
        g(16, 2, expect="ADVANCE"),
        g(18, 3, stiffness=True, expect="STIFFNESS"), g(21, 3), g(23, 3, expect="ADVANCE"),
        g(25, 4),
    ]


def _stage_of(p: Plan) -> tuple[int | None, int, int | None, int | None]:
    """(run s, walk s, total m, total s) of the plan's stage in its programme."""
    if p.program == "gentle":
        run_s, walk_s, total_m, _, total_s = GENTLE[p.stage]
        return run_s, walk_s, total_m, total_s
    run_s, walk_s, total_m, _ = STAGES[p.stage]
    return run_s, walk_s, total_m, None


def _bouts(p: Plan, speeds: tuple[float, float] = (2.6, 1.4)) -> list[tuple[str, float]]:
    """(gait, seconds) of a planned session; the last run stops when the total is reached
    (computed with the session's own run and walk speeds)."""
    if p.sport == "cycling":
        return [("ride", 1800.0)]
    if p.sport == "swimming":
        return [("swim", 1500.0)]
    run_v, walk_v = speeds
    run_s, walk_s, total_m, total_s = _stage_of(p)
    if run_s == 0:  # a walking stage: one brisk walk of the stage's duration
        return [("walk", float(total_s or 1800))]
    run_s = p.run_s or run_s
    walk_s = p.walk_s if p.walk_s is not None else walk_s
    total_m = p.total_m or total_m
    bouts: list[tuple[str, float]] = [("walk", WARMUP_S)]
    if total_s is not None:  # a timed main set of whole run/walk cycles
        for _ in range(int(total_s // ((run_s or 0) + walk_s))):
            bouts += [("run", float(run_s or 0)), ("walk", float(walk_s))]
        bouts[-1] = ("walk", float(walk_s + COOLDOWN_S))
        return bouts
    assert total_m is not None
    covered = 0.0
    while covered < total_m:
        run = float(math.ceil(min(run_s or 1e9, (total_m - covered) / run_v)))
        bouts.append(("run", run))
        covered += run * run_v
        if covered < total_m and walk_s:
            bouts.append(("walk", float(walk_s)))
            covered += walk_s * walk_v
    bouts.append(("walk", float(COOLDOWN_S)))
    return bouts


def _trace(rng: np.random.Generator, p: Plan, a: Athlete) -> dict[str, np.ndarray]:
    """A 1 Hz trace with realistic noise for the planned bouts."""
    labels, speed, cad = [], [], []
    run_v, walk_v = rng.uniform(2.45, 2.75), rng.uniform(1.3, 1.5)
    bouts = _bouts(p, (run_v, walk_v))
    for gait, seconds in bouts:
        n = int(seconds)
        # (a swim's values are drawn only for a swim: the other streams stay as they were)
        base_v = {"run": run_v, "walk": walk_v, "ride": rng.uniform(5.5, 6.5),
                  "swim": None}[gait] or rng.uniform(0.9, 1.1)
        base_c = {"run": rng.uniform(158, 170), "walk": rng.uniform(106, 118),
                  "ride": rng.uniform(80, 90), "swim": None}[gait] or rng.uniform(26, 32)
        speed.append(np.clip(base_v + rng.normal(0, 0.08, n), 0.3, None))
        cad.append(base_c + rng.normal(0, 1.5, n))
        labels += [gait] * n
    v = np.concatenate(speed)
    c = np.concatenate(cad)
    gait = np.array(labels)
    n = len(v)
    effort = np.where(gait == "run", 0.62, np.where(np.isin(gait, ["ride", "swim"]), 0.55, 0.35))
    target = a.hr_rest_bpm + effort * (a.hr_max_bpm - a.hr_rest_bpm) + 0.004 * np.arange(n)
    hr = np.empty(n)
    hr[0] = a.hr_rest_bpm + 15
    for i in range(1, n):  # first-order lag towards the effort's heart rate (tau 25 s)
        hr[i] = hr[i - 1] + (target[i] - hr[i - 1]) / 25
    hr = hr + rng.normal(0, 1.0, n)
    heading = np.cumsum(rng.normal(0, 0.03, n)) + rng.uniform(0, 2 * np.pi)
    north, east = np.cumsum(v * np.cos(heading)), np.cumsum(v * np.sin(heading))
    # GPS error wanders slowly (AR(1), about 1.5 m), it does not jump every second.
    err_n = lfilter([1.0], [1.0, -0.95], rng.normal(0, 0.45, n))
    err_e = lfilter([1.0], [1.0, -0.95], rng.normal(0, 0.45, n))
    lat = a.origin[0] + (north + err_n) / 111_195
    lon = a.origin[1] + (east + err_e) / (111_195 * math.cos(math.radians(a.origin[0])))
    device_v = v.copy()
    if p.sport == "running":
        run_idx = np.flatnonzero(gait == "run")
        device_v[rng.choice(run_idx, 3, replace=False)] = rng.uniform(15, 18, 3)  # GPS spikes
        c[rng.choice(run_idx, 2, replace=False)] = 0  # sensor blips
        if p.day % 3 == 0 and len(run_idx) > 60:
            k = run_idx[40]
            c[k:k + 7] = c[k:k + 7] / 2  # half-cadence dropout
    keep = np.ones(n, dtype=bool)
    pauses: list[tuple[int, int]] = []
    if p.pause:
        walk_idx = np.flatnonzero(gait == "walk")
        k = int(walk_idx[len(walk_idx) // 2])
        keep[k:k + 40] = False  # auto-pause: nothing recorded for 40 s
        pauses.append((k, k + 40))
    return {"t": np.arange(n)[keep], "v": v[keep], "device_v": device_v[keep], "c": c[keep],
            "hr": hr[keep], "lat": lat[keep], "lon": lon[keep],
            "dist": np.cumsum(v)[keep], "gait": gait[keep], "pauses": np.array(pauses),
            "duration": np.array([n]), "bouts": np.array(bouts, dtype=object)}


def _start_utc(a: Athlete, day: int) -> tuple[dt.datetime, int]:
    local = dt.datetime.combine(PROGRAM_START + dt.timedelta(days=day), a.local_time,
                                tzinfo=ZoneInfo(a.timezone))
    offset = local.utcoffset()
    assert offset is not None
    return local.astimezone(dt.UTC), int(offset.total_seconds())


def _fit_ts(t: dt.datetime) -> int:
    return int(t.timestamp()) - FIT_EPOCH


def _semicircles(deg: float) -> int:
    return round(deg * 2**31 / 180)


def write_fit(tr: dict[str, np.ndarray], start: dt.datetime, offset_s: int, p: Plan,
              a: Athlete) -> bytes:
    """Encode one session as a FIT activity file, the way a running watch writes it."""
    t0 = _fit_ts(start)
    duration = int(tr["duration"][0])
    end = t0 + duration
    paused = int(sum(b - e for e, b in tr["pauses"])) if len(tr["pauses"]) else 0
    enc = Encoder()
    sport = p.sport
    enc.write_mesg({"mesg_num": MESG["FILE_ID"], "type": "activity", "manufacturer": "garmin",
                    "product": 3990, "serial_number": a.serial, "time_created": t0})
    enc.write_mesg({"mesg_num": MESG["EVENT"], "timestamp": t0, "event": "timer",
                    "event_type": "start", "timer_trigger": "manual", "event_group": 0})
    pause_at = {int(e): int(b) for e, b in tr["pauses"]}
    for i in range(len(tr["t"])):
        ts = t0 + int(tr["t"][i])
        rec = {"mesg_num": MESG["RECORD"], "timestamp": ts}
        if sport != "swimming":  # a pool swim has no satellite fix
            rec["position_lat"] = _semicircles(float(tr["lat"][i]))
            rec["position_long"] = _semicircles(float(tr["lon"][i]))
        rec.update({"distance": round(float(tr["dist"][i]), 2),
                    "enhanced_speed": round(float(tr["device_v"][i]), 3),
                    "enhanced_altitude": 35.0, "heart_rate": round(float(tr["hr"][i]))})
        if sport in ("running", "walking"):
            leg = float(tr["c"][i]) / 2
            rec["cadence"] = int(leg)
            rec["fractional_cadence"] = round((leg - int(leg)) * 128) / 128
        else:
            rec["cadence"] = round(float(tr["c"][i]))
        enc.write_mesg(rec)
        nxt = int(tr["t"][i]) + 1
        if nxt in pause_at:
            enc.write_mesg({"mesg_num": MESG["EVENT"], "timestamp": t0 + nxt, "event": "timer",
                            "event_type": "stop_all", "timer_trigger": "auto", "event_group": 0})
            enc.write_mesg({"mesg_num": MESG["EVENT"], "timestamp": t0 + pause_at[nxt],
                            "event": "timer", "event_type": "start", "timer_trigger": "auto",
                            "event_group": 0})
    enc.write_mesg({"mesg_num": MESG["EVENT"], "timestamp": end, "event": "timer",
                    "event_type": "stop_all", "timer_trigger": "manual", "event_group": 0})
    if p.splits:
        gait, t = tr["gait"], tr["t"]
        change = np.flatnonzero(np.r_[True, gait[1:] != gait[:-1]])
        for j, k in enumerate(change):
            stop = int(change[j + 1]) if j + 1 < len(change) else len(t)
            kind = "rwd_run" if gait[k] == "run" else "rwd_walk"
            enc.write_mesg({"mesg_num": MESG["SPLIT"], "message_index": j, "split_type": kind,
                            "start_time": t0 + int(t[k]), "end_time": t0 + int(t[stop - 1]) + 1,
                            "total_elapsed_time": float(t[stop - 1] + 1 - t[k]),
                            "total_timer_time": float(t[stop - 1] + 1 - t[k]),
                            "total_distance": round(float(tr["dist"][stop - 1] - tr["dist"][k]), 2)})
    total_m = round(float(tr["dist"][-1]), 2)
    avg_c = float(np.mean(tr["c"][tr["c"] > 0])) / (2 if sport in ("running", "walking") else 1)
    common = {"start_time": t0, "total_elapsed_time": float(duration),
              "total_timer_time": float(duration - paused), "total_distance": total_m,
              "avg_heart_rate": round(float(np.mean(tr["hr"]))), "timestamp": end}
    enc.write_mesg({"mesg_num": MESG["LAP"], "event": "lap", "event_type": "stop", **common})
    session = {"mesg_num": MESG["SESSION"], "event": "session", "event_type": "stop",
               "sport": sport, "sub_sport": "lap_swimming" if sport == "swimming" else "generic",
               "first_lap_index": 0, "num_laps": 1,
               "trigger": "activity_end", "avg_cadence": int(avg_c),
               "avg_fractional_cadence": round((avg_c - int(avg_c)) * 128) / 128, **common}
    if p.rpe is not None and p.day % 2 == 0:
        session["workout_rpe"] = round(p.rpe * 10)  # newer firmware asks RPE at the end
    enc.write_mesg(session)
    enc.write_mesg({"mesg_num": MESG["ACTIVITY"], "timestamp": end,
                    "total_timer_time": float(duration - paused), "num_sessions": 1,
                    "type": "manual", "event": "activity", "event_type": "stop",
                    "local_timestamp": end + offset_s})
    return enc.close()


def write_gpx(tr: dict[str, np.ndarray], start: dt.datetime, a: Athlete) -> bytes:
    """The same session as a Garmin Connect style GPX (TrackPointExtension, one-leg cadence)."""
    gpx = gpxpy.gpx.GPX()
    gpx.creator = "Comeback sample generator"
    gpx.nsmap["gpxtpx"] = "http://www.garmin.com/xmlschemas/TrackPointExtension/v1"
    track = gpxpy.gpx.GPXTrack(name="Run")
    track.type = "running"
    seg = gpxpy.gpx.GPXTrackSegment()
    import xml.etree.ElementTree as ET

    for i in range(len(tr["t"])):
        pt = gpxpy.gpx.GPXTrackPoint(round(float(tr["lat"][i]), 7), round(float(tr["lon"][i]), 7),
                                     elevation=35.0,
                                     time=start + dt.timedelta(seconds=int(tr["t"][i])))
        ext = ET.Element("gpxtpx:TrackPointExtension")
        ET.SubElement(ext, "gpxtpx:hr").text = str(round(float(tr["hr"][i])))
        ET.SubElement(ext, "gpxtpx:cad").text = str(round(float(tr["c"][i]) / 2))
        pt.extensions.append(ext)
        seg.points.append(pt)
    track.segments.append(seg)
    gpx.tracks.append(track)
    return gpx.to_xml(version="1.1").encode()


def write_wellness_fit(a: Athlete, week: int, rng: np.random.Generator,
                       odd: dict[int, tuple[str, int, float]]) -> bytes:
    """A week of the watch's wellness file (FIT monitoring_b): each morning's resting heart
    rate (monitoring_hr_data), the night's sleep levels and the overnight HRV summary."""
    enc = Encoder()
    first = PROGRAM_START + dt.timedelta(days=7 * week)
    created = dt.datetime.combine(first, dt.time(0, 5), tzinfo=ZoneInfo(a.timezone))
    enc.write_mesg({"mesg_num": MESG["FILE_ID"], "type": "monitoring_b", "manufacturer": "garmin",
                    "product": 3990, "serial_number": a.serial,
                    "time_created": _fit_ts(created)})
    offset = created.utcoffset()
    assert offset is not None
    enc.write_mesg({"mesg_num": MESG["MONITORING_INFO"], "timestamp": _fit_ts(created),
                    "local_timestamp": _fit_ts(created) + int(offset.total_seconds())})
    for k in range(7):
        day = 7 * week + k
        date = first + dt.timedelta(days=k)
        _, rest, asleep = odd.get(day, ("", round(a.hr_rest_bpm + rng.normal(0, 1.0)),
                                        round(float(rng.uniform(7.0, 7.8)), 1)))
        wake = dt.datetime.combine(date, dt.time(6, 30), tzinfo=ZoneInfo(a.timezone))
        bed = wake - dt.timedelta(hours=asleep, minutes=20)
        levels = [(bed, "awake"), (bed + dt.timedelta(minutes=20), "light")]
        step = (wake - levels[-1][0]) / 4
        levels += [(levels[-1][0] + step * (j + 1), lv) for j, lv in
                   enumerate(("deep", "light", "rem"))]
        levels.append((wake, "awake"))
        for when, level in levels:
            enc.write_mesg({"mesg_num": MESG["SLEEP_LEVEL"], "timestamp": _fit_ts(when),
                            "sleep_level": level})
        enc.write_mesg({"mesg_num": MESG["HRV_STATUS_SUMMARY"], "timestamp": _fit_ts(wake),
                        "last_night_average": round(float(rng.uniform(55, 70)), 1),
                        "status": "balanced"})
        enc.write_mesg({"mesg_num": MESG["MONITORING_HR_DATA"],
                        "timestamp": _fit_ts(wake + dt.timedelta(minutes=30)),
                        "resting_heart_rate": int(rest), "current_day_resting_heart_rate": int(rest)})
    return enc.close()


def _wellness_csv(a: Athlete, run_days: list[int], rng: np.random.Generator) -> str:
    """Four weeks of a hand-kept wellness.csv: one short night before a run, one typo."""
    rows = ["date,resting_hr_bpm,hrv_ms,sleep_h,soreness_0_10,note"]
    short = run_days[BEN_SHORT_NIGHT_RUN]
    for day in range(28):
        date = (PROGRAM_START + dt.timedelta(days=day)).isoformat()
        sleep: object = 5.5 if day == short else round(float(rng.uniform(6.8, 7.6)), 1)
        note = "late shift" if day == short else ""
        if day == BEN_TYPO_DAY:
            sleep, note = "lots", "slept in"
        rows.append(f"{date},{round(a.hr_rest_bpm + rng.normal(0, 1.0))},,{sleep},2,{note}")
    return "\n".join(rows) + "\n"


def _settings_fit() -> bytes:
    enc = Encoder()
    enc.write_mesg({"mesg_num": MESG["FILE_ID"], "type": "settings", "manufacturer": "garmin",
                    "product": 3990, "serial_number": 3_900_000_003, "time_created": 1_100_000_000})
    enc.write_mesg({"mesg_num": MESG["USER_PROFILE"], "weight": 61.0, "gender": "female"})
    return enc.close()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 3, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


CHECKIN_COLUMNS = ["athlete_id", "date", "warmup", "during", "next_day", "pain_during",
                   "pain_after", "pain_next_morning", "swelling", "stiffness", "rpe", "note"]
MANIFEST_COLUMNS = ["path", "athlete_id", "kind", "format", "sport", "local_date", "stage",
                    "elapsed_s", "distance_m", "run_s", "pattern", "cadence_spm",
                    "truncated", "expect", "expect_error", "note"]


def _pattern(p: Plan, bouts: list[tuple[str, float]]) -> str:
    runs = [s for g, s in bouts if g == "run"]
    if len(runs) < 2:
        return ""
    rec = _stage_of(p)[1] if p.walk_s is None else p.walk_s
    full = sorted(runs)[len(runs) // 2]
    return f"{int(round(full / 15) * 15)} s run : {int(round(rec / 15) * 15)} s walk × {len(runs)}"


def generate(out: Path) -> list[str]:
    """Write the whole sample tree under ``out``; returns the written paths (relative)."""
    inbox = out / "inbox"
    for owned in (inbox, out / "invalid"):  # the generator owns these trees
        shutil.rmtree(owned, ignore_errors=True)
    manifest: list[dict[str, object]] = []
    inbox.mkdir(parents=True, exist_ok=True)
    with (inbox / "athletes.csv").open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["athlete_id", "name", "timezone", "sex", "hr_rest_bpm", "hr_max_bpm",
                    "program", "program_start", "start_stage", "injured_area", "cadence_target"])
        for a in ATHLETES:
            program, area, cadence = SETTINGS[a.athlete_id]
            w.writerow([a.athlete_id, a.name, a.timezone, a.sex, a.hr_rest_bpm, a.hr_max_bpm,
                        program, PROGRAM_START.isoformat(), 1, area, cadence])
    plans = {"ana": _smooth_plan(), "ben": _pusher_plan(), "cara": _soreness_plan(),
             "dev": _gentle_plan()}
    for ai, a in enumerate(ATHLETES):
        folder = inbox / a.athlete_id
        folder.mkdir(parents=True, exist_ok=True)
        checkins: list[list[object]] = []
        zipped: dict[str, bytes] = {}
        for si, p in enumerate(plans[a.athlete_id]):
            rng = np.random.default_rng([SEED, ai, si])
            start, offset = _start_utc(a, p.day)
            tr = _trace(rng, p, a)
            local_date = (PROGRAM_START + dt.timedelta(days=p.day)).isoformat()
            stem = f"{local_date}_{a.athlete_id}_{p.sport}"
            fit = write_fit(tr, start, offset, p, a)
            bouts = [(str(g), float(n)) for g, n in tr["bouts"]]
            row: dict[str, object] = {
                "athlete_id": a.athlete_id, "kind": "activity", "format": "fit",
                "sport": p.sport, "local_date": local_date,
                "stage": p.stage if p.sport in ("running", "walking") else "",
                "elapsed_s": int(tr["duration"][0]), "distance_m": round(float(tr["dist"][-1])),
                "run_s": int(sum(s for g, s in bouts if g == "run")),
                "pattern": _pattern(p, bouts) if p.sport == "running" else "",
                "cadence_spm": round(float(np.median(tr["c"][tr["gait"] == "run"])))
                if p.sport == "running" and (tr["gait"] == "run").any() else "",
                "truncated": "", "expect": p.expect, "expect_error": "", "note": p.note}
            if p.export == "zip":
                zipped[f"{stem}.fit"] = fit
                manifest.append({**row, "path": f"inbox/{a.athlete_id}/export_2026-02.zip!{stem}.fit"})
            elif p.export == "gz":
                _write(folder / f"{stem}.fit.gz", gzip.compress(fit, mtime=0))
                manifest.append({**row, "path": f"inbox/{a.athlete_id}/{stem}.fit.gz",
                                 "note": "gzipped FIT"})
            elif p.export == "truncated":
                cut = fit[: int(len(fit) * 0.6)]
                _write(folder / f"{stem}.fit", cut)
                manifest.append({**row, "path": f"inbox/{a.athlete_id}/{stem}.fit",
                                 "truncated": "true", "elapsed_s": "", "distance_m": "",
                                 "run_s": "", "pattern": ""})
            else:
                _write(folder / f"{stem}.fit", fit)
                manifest.append({**row, "path": f"inbox/{a.athlete_id}/{stem}.fit"})
                if p.export == "fit+gpx":
                    _write(folder / f"{stem}.gpx", write_gpx(tr, start, a))
                    manifest.append({**row, "path": f"inbox/{a.athlete_id}/{stem}.gpx",
                                     "kind": "duplicate", "format": "gpx",
                                     "note": "GPX export of the FIT run of the same day"})
            if p.sport in ("running", "walking"):
                w_, d_, n_ = p.checkin
                pain = p.pain
                checkins.append([a.athlete_id, local_date, w_ or "", d_ or "", n_ or "",
                                 "" if pain[0] is None else pain[0],
                                 "" if pain[1] is None else pain[1],
                                 "" if pain[2] is None else pain[2],
                                 "yes" if (n_ == "non_muscular" if p.swelling is None
                                           else p.swelling) else "no",
                                 "yes" if p.stiffness else "no",
                                 "" if p.rpe is None else p.rpe, p.note])
        if zipped:
            _write(folder / "export_2026-02.zip", _zip(zipped))
        rng = np.random.default_rng([SEED, ai, 999])
        if a.athlete_id == "ana":
            for week in range(WEEKS):
                monday = PROGRAM_START + dt.timedelta(days=7 * week)
                _write(folder / f"{monday.isoformat()}_ana_wellness.fit",
                       write_wellness_fit(a, week, rng, ANA_READINESS))
                manifest.append({"path": f"inbox/ana/{monday.isoformat()}_ana_wellness.fit",
                                 "athlete_id": "ana", "kind": "wellness", "format": "fit",
                                 "note": "a week of resting HR, sleep and HRV"})
        if a.athlete_id == "ben":
            runs = [p.day for p in plans["ben"] if p.sport == "running"]
            (folder / "wellness.csv").write_text(_wellness_csv(a, runs, rng))
        if a.athlete_id == "cara":
            _write(folder / "settings.fit", _settings_fit())
            manifest.append({"path": "inbox/cara/settings.fit", "athlete_id": "cara",
                             "kind": "invalid", "format": "fit",
                             "expect_error": "UnsupportedFileError",
                             "note": "watch settings file, not an activity"})
        with (folder / "checkins.csv").open("w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(CHECKIN_COLUMNS)
            w.writerows(checkins)
    invalid = out / "invalid"
    ana_fit = sorted((inbox / "ana").glob("*_running.fit"))[0].read_bytes()
    broken = {
        "empty.fit": (b"", "EmptyActivityError"),
        "notes.fit": (b"Remember to charge the watch.\n", "UnsupportedFileError"),
        "header_only.fit": (ana_fit[:14], "TruncatedFileError"),
        "bad_header.fit": (b"\x0e\x10" + b"\0" * 6 + b"XFIT" + ana_fit[12:200],
                           "UnsupportedFileError"),
        "settings.fit": (_settings_fit(), "UnsupportedFileError"),
        "broken.gpx": (b"<?xml version='1.0'?><gpx version='1.1'><trk><trkseg><trkpt",
                       "CorruptFileError"),
        "route.gpx": (b"<?xml version='1.0'?><gpx version='1.1' creator='x'><rte>"
                      b"<rtept lat='1' lon='2'/><rtept lat='1.1' lon='2'/></rte></gpx>",
                      "UnsupportedFileError"),
        "track.tcx": (b"<?xml version='1.0'?><TrainingCenterDatabase></TrainingCenterDatabase>",
                      "EmptyActivityError"),
    }
    for name, (data, error) in broken.items():
        _write(invalid / name, data)
        manifest.append({"path": f"invalid/{name}", "kind": "invalid",
                         "format": name.rsplit(".", 1)[-1], "expect_error": error})
    with (out / "manifest.csv").open("w", newline="") as fh:
        dw = csv.DictWriter(fh, MANIFEST_COLUMNS, lineterminator="\n", restval="")
        dw.writeheader()
        dw.writerows(manifest)
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "SHA256SUMS"
                   and p.suffix != ".py" and "__pycache__" not in p.parts)
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(out).as_posix()}"
             for p in files]
    (out / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return [p.relative_to(out).as_posix() for p in files]


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    written = generate(target)
    print(f"wrote {len(written)} files under {target}")
