"""The University of Delaware soreness rules (spec §4.3–4.4) and the progression gates of
the programme (§3.4 rule 3, S8): what one session's check-in says.

:func:`soreness_rules` gives the verdict — DROP (rest and go down a stage), HOLD (rest a day,
do not advance), STAY or ADVANCE_OK (eligible). :func:`progression_gates` says what keeps an
eligible session from counting: pain above the ceiling, swelling, stiffness, or pain that
increases. Missing answers never advance. The state machine that walks an athlete's sessions
through both lives in :mod:`pipeline.decide`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import RuleConfig

__all__ = ["RULES", "Answers", "Gate", "pain_gate", "progression_gates", "soreness_rules"]

SRC_UD = "University of Delaware soreness rules (Fees et al. 1998; Adams et al. 2012) [R35,R42]"
SRC_CHOP = "CHOP running progression after ACL surgery [R33]"
SRC_PAIN = "Pain gate S8: UW Health (Heiderscheit) ≤ 3/10; Silbernagel 2007 [R40,R41]"
SRC_CROWELL = ("Crowell et al. 2023, Table 1 rule 3: no progress with swelling, stiffness or an "
               "increase in pain [R27]")
SRC_RISING = ("S8: pain not increasing, next-morning pain back to the pre-run baseline "
              "[R27,R38,R40]")
SRC_REVIEW = "Comeback safety rule (spec §4.4), not from the UD table"

# rule: (verdict, days off, stage change, plain words, source)
RULES: dict[str, tuple[str, int, int, str, str]] = {
    "R1": ("DROP", 2, -1, "soreness in the warm-up that continued", SRC_UD),
    "R3": ("DROP", 2, -1, "soreness that went away in the warm-up came back during the session",
           SRC_UD),
    "X1": ("DROP", 1, -1, "soreness first appeared during the session", SRC_CHOP),
    "R4": ("HOLD", 1, 0, "soreness at the injured area the next day (not muscle soreness)",
           SRC_UD),
    "R2": ("STAY", 0, 0, "soreness in the warm-up that went away", SRC_UD),
    "R5": ("ADVANCE_OK", 0, 1, "no soreness", SRC_UD),
    "M": ("STAY", 0, 0, "answers are missing, so 'no soreness' cannot be confirmed",
          "Comeback rule: missing answers never advance [PRODUCT]"),
}
_PRECEDENCE = {"DROP": 3, "HOLD": 2, "STAY": 1, "ADVANCE_OK": 0}


@dataclass(frozen=True)
class Answers:
    """One session's check-in. None = not answered (never read as "none")."""

    warmup: str | None = None
    during: str | None = None
    next_day: str | None = None
    pre_session: str | None = None  # Q4 before the next session, when Q3 is unanswered
    pain_during: float | None = None
    pain_after: float | None = None
    pain_next_morning: float | None = None
    swelling: bool | None = None
    stiffness: bool | None = None


def soreness_rules(a: Answers) -> tuple[list[str], str, int]:
    """Rules fired, verdict (most conservative wins) and days off (max, never summed)."""
    fired = []
    if a.warmup == "persisted":
        fired.append("R1")
    if a.warmup == "resolved" and a.during == "returned":
        fired.append("R3")
    if a.warmup == "none" and a.during == "new":
        fired.append("X1")
    if a.next_day == "non_muscular" or (a.next_day is None and a.pre_session == "yes"):
        fired.append("R4")
    if a.warmup == "resolved" and a.during in ("none", None):
        fired.append("R2")
    # Q4 before the next session stands in for an unanswered Q3 (spec §4.5).
    next_day = a.next_day if a.next_day is not None else {
        "no": "none", "yes": "non_muscular"}.get(a.pre_session or "")
    answered = None not in (a.warmup, a.during, next_day)
    if not fired and answered and next_day in ("none", "muscular"):
        fired.append("R5")
    if not answered and not any(RULES[r][0] == "DROP" for r in fired):
        fired.append("M")
    verdict = max((RULES[r][0] for r in fired), key=_PRECEDENCE.__getitem__)
    return fired, verdict, max(RULES[r][1] for r in fired)


def pain_gate(a: Answers, cfg: RuleConfig) -> tuple[str, float | None]:
    """S8: ``green`` (≤ 3/10), ``amber`` (4–5: repeat the stage) or ``red`` (> 5: stop).

    Missing pain scores are not evidence of pain: the gate stays green [PRODUCT].
    """
    values = [v for v in (a.pain_during, a.pain_after, a.pain_next_morning) if v is not None]
    worst = max(values, default=None)
    if worst is None or worst <= cfg.pain_green_max:
        return "green", worst
    return ("amber" if worst <= cfg.pain_amber_max else "red"), worst


@dataclass(frozen=True)
class Gate:
    """A progression gate that failed: the flag it raises and the words a coach reads."""

    rule_id: str
    severity: str
    words: str  # "swelling reported", for the decision's explanation
    message: str
    evidence: str
    source: str
    value: float | None = None
    threshold: float | None = None


def _pain(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def progression_gates(a: Answers, baseline: float | None, cfg: RuleConfig) -> list[Gate]:
    """The gates an otherwise eligible session must pass (Crowell rule 3, S8).

    Args:
        a: The session's check-in.
        baseline: The athlete's pre-session baseline: the last next-morning pain recorded
            before this session (None when there is none; the next-morning comparison is then
            not made [PRODUCT]).

    Pain is increasing when the pain after the session is above the pain during it, or the
    next-morning pain is above the baseline. Unanswered values are not evidence of anything.
    """
    gates = []
    gate, worst = pain_gate(a, cfg)
    if gate != "green":
        gates.append(Gate(
            "PAIN_GATE", "caution" if gate == "amber" else "alert",
            f"pain {worst:g}/10 above the ceiling of {cfg.pain_green_max:g}",
            f"Pain above {cfg.pain_green_max:g}/10: repeat this stage." if gate == "amber"
            else f"Pain above {cfg.pain_amber_max:g}/10: stop and follow the soreness rules.",
            f"worst pain {worst:g}/10 (during {_pain(a.pain_during)}, after "
            f"{_pain(a.pain_after)}, next morning {_pain(a.pain_next_morning)})",
            SRC_PAIN, worst, cfg.pain_green_max))
    for rule, answer, word in (("SWELLING", a.swelling, "swelling"),
                               ("STIFFNESS", a.stiffness, "stiffness")):
        if answer:
            gates.append(Gate(rule, "caution", f"{word} reported",
                              f"{word.capitalize()} reported: stay at this stage until it is "
                              f"completed without {word}.", f"{word} = yes on the check-in",
                              SRC_CROWELL))
    rising = []
    if a.pain_during is not None and a.pain_after is not None and a.pain_after > a.pain_during:
        rising.append(f"pain after {a.pain_after:g} > during {a.pain_during:g}")
    if (baseline is not None and a.pain_next_morning is not None
            and a.pain_next_morning > baseline):
        rising.append(f"next-morning pain {a.pain_next_morning:g} > baseline {baseline:g} "
                      "(the last next-morning value before the session)")
    if rising:
        gates.append(Gate("PAIN_RISING", "caution", "pain increasing (" + "; ".join(rising) + ")",
                          "Pain increased with this session: stay at this stage.",
                          "; ".join(rising), SRC_RISING))
    return gates
