"""Programs as data: stage tables, their sources, errors that name the line, compliance."""

from __future__ import annotations

import pytest

from pipeline.errors import ProgramError
from pipeline.program import default_program, load_program, stage_compliance, tolerance_s
from pipeline.session import interval_structure
from tests.synthetic import trace
from tests.test_session import _segments


def test_default_program_is_crowell_2023_with_its_source():
    p = default_program()
    assert [s.number for s in p.stages] == [1, 2, 3, 4, 5, 6]
    assert (p.stage(1).run_s, p.stage(1).walk_s, p.stage(1).total_m) == (180, 120, 1609)
    assert p.stage(6).run_s is None and "Crowell" in p.source and "10.1186" in p.source


@pytest.mark.parametrize(("body", "line", "words"), [
    ("stage,run_s,walk_s,repeats,total_m\n1,60,120,,1000\n3,60,120,,1000\n", 3, "in order"),
    ("stage,run_s,walk_s,repeats,total_m\n1,sixty,120,,1000\n", 2, "run_s"),
    ("stage,run_s,walk_s,repeats,total_m\n1,60,120,,\n", 2, "when to stop"),
    ("# comment\nstage,run_s\n1,60\n", 2, "walk_s"),
])
def test_invalid_program_names_the_line(tmp_path, body, line, words):
    path = tmp_path / "clinic.csv"
    path.write_text(body)
    with pytest.raises(ProgramError, match=rf"clinic.csv, line {line}: .*{words}"):
        load_program(path)


def test_custom_time_based_program(tmp_path):
    path = tmp_path / "moen.csv"
    path.write_text("# Moen et al. 2012 graded program (as reproduced)\n"
                    "stage,run_s,walk_s,repeats,total_m,total_s,target_rpe,label\n"
                    "1,120,120,4,,,2,easy\n2,,0,1,,960,3,continuous\n")
    p = load_program(path)
    st = interval_structure(_segments(trace([("walk", 120)] + [("run", 120), ("walk", 120)] * 4)))
    assert stage_compliance(st, p.stage(1)).completed
    assert not stage_compliance(st, p.stage(1)).exceeded


def test_tolerance_is_max_15s_or_20_percent():
    assert tolerance_s(60) == 15 and tolerance_s(300) == 60
