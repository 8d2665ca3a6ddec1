"""Vectorised FIT decoding: record messages through numpy, everything else through fitparse.

A FIT activity is mostly ``record`` messages of a handful of fixed layouts. One pass over the
message headers finds where every data message starts; the records of each layout are then
gathered into one (records × bytes) matrix and read as a structured array, so each field is
decoded for every record at once. The few other messages Comeback reads (file_id, session,
lap, event, activity, split, and the developer-data descriptions) are copied, with their
definitions, into a small FIT stream that fitparse decodes, so their meaning is exactly the
reference decoder's.

Field meaning (scale, offset, components) comes from fitparse's own profile. Anything this
path would not reproduce exactly — a compressed timestamp header, an accumulated component,
an array-valued record field, a file or header CRC that does not match, a chained file, a
layout fitparse would fail on — raises :class:`Declined`, and the caller decodes the
whole file with fitparse. ``tests/test_parse_corpus.py`` checks both paths give the same
Activity on every corpus file.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import fastcrc
import numpy as np
from fitparse import UncachedFitFile
from fitparse.profile import MESSAGE_TYPES
from fitparse.utils import FitEOFError

__all__ = ["RECORD_FIELDS", "WANTED_MESSAGES", "Declined", "decode_records_fast"]

RECORD_FIELDS = (
    "timestamp", "position_lat", "position_long", "distance", "enhanced_speed", "speed",
    "enhanced_altitude", "altitude", "heart_rate", "cadence", "fractional_cadence",
    "cadence256", "power",
)
WANTED_MESSAGES = frozenset({"file_id", "record", "session", "lap", "event", "activity", "split"})

_NUM = {t.name: n for n, t in MESSAGE_TYPES.items()}
_RECORD = _NUM["record"]
# Messages copied to fitparse: the wanted ones, and the developer-data descriptions that name
# developer fields (so a developer field is named the same way in both paths).
_FITPARSE_MESSAGES = frozenset(_NUM[n] for n in WANTED_MESSAGES - {"record"}) | {
    _NUM["developer_data_id"], _NUM["field_description"]}

# FIT base types: numpy kind and the "invalid" sentinel fitparse turns into None
# (fitparse.records.BASE_TYPES; a test holds the two tables equal).
BASE_TYPES: dict[int, tuple[str, float | None]] = {
    0x00: ("u1", 0xFF), 0x01: ("i1", 0x7F), 0x02: ("u1", 0xFF),
    0x83: ("i2", 0x7FFF), 0x84: ("u2", 0xFFFF), 0x85: ("i4", 0x7FFFFFFF),
    0x86: ("u4", 0xFFFFFFFF), 0x88: ("f4", None), 0x89: ("f8", None),
    0x0A: ("u1", 0), 0x8B: ("u2", 0), 0x8C: ("u4", 0),
    0x8E: ("i8", 0x7FFFFFFFFFFFFFFF), 0x8F: ("u8", 0xFFFFFFFFFFFFFFFF), 0x90: ("u8", 0),
}
_BYTE_LIKE = {0x07, 0x0D}  # string and byte: never a number of ours
_SIZE = {n: np.dtype(kind).itemsize for n, (kind, _) in BASE_TYPES.items()}
_COMPARED_TYPES = {"date_time", "local_date_time", "localtime_into_day"}


class Declined(Exception):
    """The fast path will not decode this file; fitparse decodes it instead."""


@dataclass
class _Layout:
    """One definition message: where its data messages are and how they are laid out."""

    start: int
    length: int  # bytes of the definition message itself
    global_num: int
    big_endian: bool
    fields: list[tuple[int, int, int]]  # (def_num, size, base type) in message order
    dev_fields: list[tuple[int, int, int]]  # (def_num, size, developer data index)
    data_size: int  # one data message, header byte included
    offsets: list[int] = field(default_factory=list)


@dataclass
class FastRecords:
    """What the fast path decoded: record columns and the other messages' fitparse stream."""

    columns: dict[str, np.ndarray]  # RECORD_FIELDS, float64; timestamp in raw FIT seconds
    messages: Iterable[Any]  # fitparse DataMessages of everything but records, in file order
    check_developer_fields: Callable[[], None]  # raises Declined; call after ``messages``
    truncated: bool  # the file ends early: every message before the end was kept


class _PastEnd(Declined):
    """A message runs past the end of the data."""


def _header(data: bytes) -> tuple[int, int, bool]:
    """(header size, end of the data, truncated). A truncated file has no CRC to check."""
    if len(data) < 14 or data[8:12] != b".FIT":
        raise Declined("no FIT header")
    header_size = data[0]
    data_size = struct.unpack_from("<I", data, 4)[0]
    if header_size not in (12, 14):
        raise Declined(f"header of {header_size} bytes")
    if header_size == 14:
        header_crc = struct.unpack_from("<H", data, 12)[0]
        if header_crc not in (0, fastcrc.crc16.arc(data[:12])):
            raise Declined("header CRC does not match")
    end = header_size + data_size
    if len(data) < end + 2:  # like fitparse: keep every message before the end
        return header_size, min(end, len(data)), True
    if len(data) > end + 2:
        raise Declined("chained or trailing data")
    if struct.unpack_from("<H", data, end)[0] != fastcrc.crc16.arc(data[:end]):
        raise Declined("file CRC does not match")
    return header_size, end, False


def _definition(data: bytes, pos: int, end: int) -> _Layout:
    h = data[pos]
    if pos + 6 > end:
        raise _PastEnd("definition runs past the data")
    big = data[pos + 2] != 0  # as fitparse: any non-zero architecture byte is big-endian
    global_num = struct.unpack_from(">H" if big else "<H", data, pos + 3)[0]
    n = data[pos + 5]
    cursor = pos + 6
    if cursor + 3 * n > end:
        raise _PastEnd("definition runs past the data")
    raw = data[cursor:cursor + 3 * n]
    fields = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, 3 * n, 3)]
    cursor += 3 * n
    dev: list[tuple[int, int, int]] = []
    if h & 0x20:
        if cursor >= end:
            raise _PastEnd("definition runs past the data")
        m = data[cursor]
        raw = data[cursor + 1:cursor + 1 + 3 * m]
        if len(raw) != 3 * m or cursor + 1 + 3 * m > end:
            raise _PastEnd("definition runs past the data")
        dev = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, 3 * m, 3)]
        cursor += 1 + 3 * m
    if any(size == 0 for _, size, _ in fields) or any(size == 0 for _, size, _ in dev):
        raise Declined("a field of zero bytes")  # fitparse stops decoding there
    known = MESSAGE_TYPES[global_num].fields if global_num in MESSAGE_TYPES else {}
    for num, size, base in fields:
        if size % _SIZE.get(base, 1) and num not in known:
            # fitparse falls back to bytes for a known field but fails on an unknown one.
            raise Declined("a field size that does not fit its type")
        spec = known.get(num)
        types = [spec, *(spec.subfields or ())] if spec is not None else []
        if any(getattr(t.type, "name", None) in _COMPARED_TYPES for t in types) and (
                base not in BASE_TYPES or size != _SIZE[base]):
            # fitparse compares a time field's value with a number: a tuple or text fails.
            raise Declined("a time field that is not a single number")
    size = 1 + sum(s for _, s, _ in fields) + sum(s for _, s, _ in dev)
    return _Layout(pos, cursor - pos, global_num, big, fields, dev, size)


def _walk(data: bytes, start: int, end: int,
          truncated: bool) -> tuple[list[_Layout], tuple[_Layout, int] | None]:
    """Every definition in file order, each with the offsets of its data messages.

    In a truncated file the walk stops at the end; a data message cut short there is
    returned apart (its layout and offset): fitparse keeps the fields it holds whole.
    """
    layouts: list[_Layout] = []
    sizes = [0] * 256  # data-message size by header byte; 0 = not a known data header
    sinks: list[Any] = [None] * 256
    current: list[_Layout | None] = [None] * 256
    pos = start
    while pos < end:
        h = data[pos]
        size = sizes[h]
        if size:
            if pos + size > end:
                if truncated:
                    return layouts, (current[h], pos)  # type: ignore[return-value]
                raise Declined("last message runs past the data")
            sinks[h](pos)
            pos += size
            continue
        if h & 0x80:
            raise Declined("compressed timestamp header")
        if not h & 0x40:
            raise Declined("data message before its definition")
        try:
            layout = _definition(data, pos, end)
        except _PastEnd:
            if truncated:  # fitparse fails inside it: nothing after it is read
                return layouts, None
            raise
        layouts.append(layout)
        local = h & 0x0F
        for variant in (local, local | 0x10, local | 0x20, local | 0x30):
            sizes[variant] = layout.data_size
            sinks[variant] = layout.offsets.append
            current[variant] = layout
        pos += layout.length
    if pos != end:
        raise Declined("last message runs past the data")
    return layouts, None


def _fitparse_stream(data: bytes, header_size: int, layouts: list[_Layout],
                     partial: tuple[_Layout, int] | None = None) -> bytes:
    """A FIT file of the wanted non-record messages and their definitions, in file order.

    A wanted message cut short by the end of a truncated file ends the stream the same way.
    """
    spans: list[tuple[int, int]] = []
    if partial is not None and partial[0].global_num in _FITPARSE_MESSAGES:
        spans.append((partial[1], len(data) - partial[1]))
    for layout in layouts:
        # Every definition (fitparse may fail on one, e.g. a bad developer field), but only
        # the data messages fitparse is asked for.
        spans.append((layout.start, layout.length))
        if layout.global_num in _FITPARSE_MESSAGES:
            spans.extend((o, layout.data_size) for o in layout.offsets)
    spans.sort()
    body = b"".join(data[s:s + n] for s, n in spans)
    header = bytearray(data[:header_size])
    struct.pack_into("<I", header, 4, len(body))
    if header_size == 14:
        struct.pack_into("<H", header, 12, 0)
    return bytes(header) + body  # no CRC: fitparse reads it only when checking it


def _field_columns(matrix: np.ndarray, layout: _Layout, offset: int, size: int,
                   base: int) -> np.ndarray | None:
    """One field of every record of a layout, raw; None where fitparse gives no number."""
    if base in _BYTE_LIKE or base not in BASE_TYPES:
        return None  # fitparse gives a tuple or bytes: not a number
    kind = BASE_TYPES[base][0]
    if size != _SIZE[base]:
        return None  # an array value (fitparse gives a tuple)
    dtype = np.dtype(kind).newbyteorder(">" if layout.big_endian else "<")
    return np.ascontiguousarray(matrix[:, offset:offset + size]).view(dtype)[:, 0]


def _numbers(raw: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
    """(values as float64, mask of invalid values)."""
    invalid = BASE_TYPES[base][1]
    values = raw.astype("float64")
    return values, np.isnan(values) if invalid is None else raw == invalid


def _scaled(values: np.ndarray, scale: float | None, offset: float | None) -> np.ndarray:
    # fitparse: float(raw) / scale, then raw - offset (only when each is truthy).
    if scale:
        values = values / float(scale)
    if offset:
        values = values - offset
    return values


def _decode_layout(data: np.ndarray, layout: _Layout) -> dict[str, np.ndarray]:
    """The wanted record fields of one layout; later producers of a name win, as in fitparse."""
    offsets = np.asarray(layout.offsets, dtype=np.int64) + 1
    matrix = data[offsets[:, None] + np.arange(layout.data_size - 1)]
    profile = MESSAGE_TYPES[_RECORD].fields
    out: dict[str, np.ndarray] = {}
    position = 0
    for def_num, size, base in layout.fields:
        spec = profile.get(def_num)
        here = position
        position += size
        if spec is None:
            continue
        produces = [c.name for c in spec.components or ()] + [spec.name]
        if not any(name in RECORD_FIELDS for name in produces):
            continue
        raw = _field_columns(matrix, layout, here, size, base)
        if raw is None:
            raise Declined(f"record field {spec.name} is not a single number")
        values, invalid = _numbers(raw, base)
        if spec.subfields:
            raise Declined(f"record field {spec.name} has subfields")
        for comp in spec.components or ():
            if comp.name not in RECORD_FIELDS:
                continue
            if comp.accumulate:
                raise Declined(f"record field {spec.name} has an accumulated component")
            if raw.dtype.kind not in "iu":
                raise Declined(f"record field {spec.name}: component of a non-integer")
            bits = (raw.astype(np.int64) >> comp.bit_offset) & ((1 << comp.bits) - 1)
            part = _scaled(bits.astype("float64"), comp.scale, comp.offset)
            part[invalid] = np.nan
            out[comp.name] = part
        if spec.type is not None and getattr(spec.type, "values", None):
            raise Declined(f"record field {spec.name} is an enumeration")
        value = _scaled(values, spec.scale, spec.offset) if spec.name != "timestamp" else values
        value[invalid] = np.nan
        out[spec.name] = value
    return out


def decode_records_fast(data: bytes) -> FastRecords:
    """Decode ``data``'s records with numpy and hand the rest to fitparse.

    Raises:
        Declined: the file needs the reference decoder (see the module docstring).
    """
    header_size, end, truncated = _header(data)
    layouts, partial = _walk(data, header_size, end, truncated)
    record_layouts = [lay for lay in layouts if lay.global_num == _RECORD and lay.offsets]
    if partial is not None and partial[0].global_num == _RECORD:
        # The record cut short keeps the fields it holds whole, as fitparse does.
        layout, pos = partial
        room, whole = end - pos - 1, []
        for spec in layout.fields:
            room -= spec[1]
            if room < 0:
                break
            whole.append(spec)
        record_layouts.append(_Layout(pos, 0, _RECORD, layout.big_endian, whole, [],
                                      layout.data_size, [pos]))
    if not record_layouts:
        raise Declined("no records")
    pad = max(lay.data_size for lay in record_layouts) if truncated else 0
    buffer = np.frombuffer(data + bytes(pad), dtype=np.uint8)
    n = sum(len(lay.offsets) for lay in record_layouts)
    columns = {name: np.full(n, np.nan) for name in RECORD_FIELDS}
    order = np.argsort(np.concatenate([np.asarray(lay.offsets) for lay in record_layouts]),
                       kind="stable")
    placed = np.empty(n, dtype=np.int64)
    placed[order] = np.arange(n)
    at = 0
    for layout in record_layouts:
        rows = placed[at:at + len(layout.offsets)]
        at += len(layout.offsets)
        for name, values in _decode_layout(buffer, layout).items():
            columns[name][rows] = values
    stream = _fitparse_stream(data, header_size, layouts, partial)
    fit = UncachedFitFile(io.BytesIO(stream), check_crc=False, check_developer_data=False)

    def check_developer_fields() -> None:
        """Decline where fitparse would read developer fields differently from their size."""
        described = {(i, n): f for i, d in fit.dev_types.items() for n, f in d["fields"].items()}
        for layout in layouts:
            for num, size, index in layout.dev_fields:
                dev = described.get((index, num))
                if dev is None:
                    continue
                if size % struct.calcsize("<" + dev.type.fmt):
                    raise Declined("a developer field size that does not fit its type")
                if layout.offsets and not all(isinstance(v, str | None)
                                              for v in (dev.name, dev.units)):
                    # fitparse formats them into method names for every such message.
                    raise Declined("a developer field whose name or units is not text")
                if layout.global_num == _RECORD and str(dev.name) in RECORD_FIELDS:
                    raise Declined("a developer field is named like a record field")

    def messages() -> Iterable[Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                yield from fit.get_messages()
            except FitEOFError:
                if not truncated:
                    raise

    return FastRecords(columns, messages(), check_developer_fields, truncated)
