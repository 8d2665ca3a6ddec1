"""The vectorised FIT path against the reference decoder (fitparse).

The fast path must give the same Activity as fitparse on every file it accepts, and fall back
to fitparse, never fail, on anything it declines — whatever it raises.
"""

from __future__ import annotations

import dataclasses
import os
import struct
from pathlib import Path
from typing import Any

import fastcrc
import numpy as np
import pandas as pd
import pytest
from fitparse.records import BASE_TYPES as FITPARSE_BASE_TYPES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline.parse.fit as fit_module
from pipeline import Activity, read_activity
from pipeline.activity import MessageTable
from pipeline.errors import InputFileError
from pipeline.parse.fastfit import BASE_TYPES, Declined, decode_records_fast
from pipeline.parse.fit import FAST_DECODER, REFERENCE_DECODER
from tests.conftest import CORPUS, SAMPLE, corpus_rows, needs_corpus
from tests.corpus_cache import read_corpus

FIT_ROWS = [r for r in corpus_rows() if r["format"] == "fit"]
SAMPLE_FITS = sorted((SAMPLE / "inbox").rglob("*.fit"))[::12]


def _outcome(source: Path | bytes, decoder: str) -> Activity | InputFileError:
    try:
        return read_activity(source, name="file.fit", decoder=decoder)
    except InputFileError as exc:
        return exc


def _assert_same(a: Any, b: Any, where: str = "activity") -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=where)
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            if f.name in ("decoder", "warnings"):
                continue
            _assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, InputFileError):
        assert type(a) is type(b) and a.reason == b.reason, (where, a, b)
    elif isinstance(a, MessageTable):
        _assert_same(a.frame, b.frame, where)
    elif isinstance(a, dict):  # record columns
        assert a.keys() == b.keys(), where
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=f"{where}.{name}")
    else:
        assert a == b or (a != a and b != b), (where, a, b)


def _assert_same_outcome(fast: Activity | InputFileError, ref: Activity | InputFileError) -> None:
    assert type(fast) is type(ref), (fast, ref)
    _assert_same(fast, ref)
    if isinstance(fast, Activity) and isinstance(ref, Activity):
        assert ref.provenance.decoder == REFERENCE_DECODER
        if fast.provenance.decoder == REFERENCE_DECODER:  # declined: the reference's words
            assert fast.provenance.warnings == ref.provenance.warnings


def test_base_types_agree_with_fitparse():
    for number, (kind, invalid) in BASE_TYPES.items():
        ref = FITPARSE_BASE_TYPES[number]
        assert np.dtype(kind).itemsize == struct.calcsize(ref.fmt), ref.name
        if invalid is None:
            assert ref.parse(float("nan")) is None
        else:
            assert ref.parse(invalid) is None and ref.parse(1 if invalid == 0 else 0) is not None
    assert set(FITPARSE_BASE_TYPES) - set(BASE_TYPES) == {0x07, 0x0D}  # string, byte


@needs_corpus
@pytest.mark.parametrize("row", FIT_ROWS, ids=lambda r: r["file"])
def test_fast_path_gives_the_reference_activity_on_every_corpus_file(row):
    fast = read_corpus(row["file"])
    _assert_same_outcome(fast, _outcome(CORPUS / row["file"], "fitparse"))


@needs_corpus
def test_fast_path_reads_most_corpus_files_itself():
    decoders = [r.provenance.decoder for r in map(read_corpus, (r["file"] for r in FIT_ROWS))
                if isinstance(r, Activity)]
    assert decoders.count(FAST_DECODER) >= 0.75 * len(decoders)
    running = [read_corpus(r["file"]) for r in FIT_ROWS if r["sport"] == "running"
               and "CORRUPT" not in r["notes"]]
    fast = [a for a in running if isinstance(a, Activity) and a.provenance.decoder == FAST_DECODER]
    assert len(fast) >= len(running) - 3


@pytest.mark.parametrize("path", SAMPLE_FITS, ids=lambda p: p.name)
def test_fast_path_gives_the_reference_activity_on_sample_files(path):
    fast = _outcome(path, "auto")
    assert isinstance(fast, InputFileError) or fast.provenance.decoder == FAST_DECODER
    _assert_same_outcome(fast, _outcome(path, "fitparse"))


class _Panic(BaseException):
    """Like a Rust decoder's panic: derives from BaseException, not Exception."""


@pytest.mark.parametrize("failure", [Declined("test"), ValueError("bug"), _Panic("panic"),
                                     MemoryError()], ids=lambda e: type(e).__name__)
def test_any_failure_of_the_fast_path_falls_back_to_fitparse(monkeypatch, failure):
    path = SAMPLE_FITS[0]

    def broken(data: bytes) -> None:
        raise failure

    monkeypatch.setattr(fit_module, "decode_records_fast", broken)
    act = read_activity(path)
    assert act.provenance.decoder == REFERENCE_DECODER
    _assert_same(act, read_activity(path, decoder="fitparse"))


def test_truncated_files_are_read_like_the_reference_and_bad_crc_is_declined():
    data = SAMPLE_FITS[0].read_bytes()
    for cut in (100, 7, 1):  # inside a record, inside the CRC
        act = read_activity(data[:-cut])
        assert act.provenance.truncated and act.provenance.decoder == FAST_DECODER
        _assert_same(act, read_activity(data[:-cut], decoder="fitparse"))
    with pytest.raises(Declined, match="CRC"):
        decode_records_fast(data[:-2] + bytes([data[-2] ^ 1, data[-1]]))


def _small_seeds() -> list[bytes]:
    names = ["fitparse__sdk_Activity.fit", "fitparse__fenix5_run_short.fit",
             "gpsbabel__vivosmarthr_run_tiny.fit", "fitparse__sdk_DeveloperData.fit"]
    return [(CORPUS / "fit" / n).read_bytes() for n in names if (CORPUS / "fit" / n).exists()]


SEEDS = _small_seeds()


@pytest.mark.skipif(not SEEDS, reason="../shared/corpus is absent (fresh clone)")
@settings(max_examples=int(os.environ.get("COMEBACK_FUZZ_EXAMPLES", "150")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mutated_files_with_a_valid_crc_decode_alike(data):
    """Damage the CRC cannot see, and truncation: the fast path declines or agrees."""
    seed = bytearray(data.draw(st.sampled_from(SEEDS)))
    header = seed[0]
    end = header + struct.unpack_from("<I", seed, 4)[0]
    for _ in range(data.draw(st.integers(0, 6))):
        i = data.draw(st.integers(header, end - 1))
        seed[i] = data.draw(st.integers(0, 255))
    struct.pack_into("<H", seed, end, fastcrc.crc16.arc(bytes(seed[:end])))
    # Sometimes also cut the file short (a truncated file has no CRC to protect it).
    mutated = bytes(seed[:data.draw(st.integers(14, len(seed)))] if data.draw(st.booleans())
                    else seed)
    _assert_same_outcome(_outcome(mutated, "auto"), _outcome(mutated, "fitparse"))
