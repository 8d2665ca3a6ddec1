"""The inbox: ``INBOX/athletes.csv`` and ``INBOX/<athlete_id>/`` with exports and check-ins.

Zip bulk exports are read member by member, safely: no member name may escape, and an
archive that expands beyond sane limits (a zip bomb) is refused with a clear reason.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipeline.errors import UnsupportedFileError

__all__ = ["ZIP_LIMITS", "InboxItem", "ZipLimits", "athlete_folders", "iter_exports",
           "read_zip_members"]

_SKIP = {"checkins.csv", "athletes.csv", "wellness.csv"}


@dataclass(frozen=True)
class ZipLimits:
    """Refuse archives beyond these (a club's bulk export is far below them)."""

    max_members: int = 5_000
    max_member_bytes: int = 256 * 1024 * 1024
    max_total_bytes: int = 2 * 1024 * 1024 * 1024
    max_ratio: float = 200.0


ZIP_LIMITS = ZipLimits()


@dataclass(frozen=True)
class InboxItem:
    """One export file, or one member of a zip export (``member`` set)."""

    athlete_id: str
    path: Path
    member: str | None = None

    @property
    def name(self) -> str:
        """How logs, the ledger and errors name it (relative to the athlete folder)."""
        base = f"{self.athlete_id}/{self.path.name}"
        return f"{base}!{self.member}" if self.member else base


def athlete_folders(inbox: Path) -> list[Path]:
    """Per-athlete folders, sorted (hidden folders ignored)."""
    return sorted(p for p in inbox.iterdir() if p.is_dir() and not p.name.startswith("."))


def _check_archive(zf: zipfile.ZipFile, name: str, limits: ZipLimits) -> list[zipfile.ZipInfo]:
    infos = [i for i in zf.infolist() if not i.is_dir()]
    if len(infos) > limits.max_members:
        raise UnsupportedFileError(name, f"zip holds {len(infos)} files (limit {limits.max_members})")
    total = sum(i.file_size for i in infos)
    packed = max(sum(i.compress_size for i in infos), 1)
    if total > limits.max_total_bytes or total / packed > limits.max_ratio or any(
            i.file_size > limits.max_member_bytes for i in infos):
        raise UnsupportedFileError(
            name, f"zip expands to {total:,} bytes from {packed:,} (ratio {total / packed:.0f}); "
                  "refused as a possible zip bomb")
    return infos


def _safe_member(member: str) -> bool:
    p = PurePosixPath(member.replace("\\", "/"))
    return not p.is_absolute() and ".." not in p.parts and ":" not in p.parts[0] if p.parts else False


def read_zip_members(path: Path, limits: ZipLimits = ZIP_LIMITS) -> Iterator[tuple[str, bytes]]:
    """Yield (member name, bytes) of a zip export.

    Raises:
        UnsupportedFileError: a corrupt archive, a zip bomb, or a member whose name escapes.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnsupportedFileError(path, f"zip archive cannot be opened: {exc}") from exc
    with zf:
        for info in _check_archive(zf, str(path), limits):
            if not _safe_member(info.filename):
                raise UnsupportedFileError(f"{path}!{info.filename}",
                                           "member name escapes the archive; refused")
            try:
                with zf.open(info) as fh:
                    data = fh.read(limits.max_member_bytes + 1)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                raise UnsupportedFileError(f"{path}!{info.filename}",
                                           f"member cannot be extracted: {exc}") from exc
            if len(data) > limits.max_member_bytes:
                raise UnsupportedFileError(f"{path}!{info.filename}", "member too large; refused")
            yield info.filename, data


def _files_under(folder: str) -> Iterator[str]:
    """Paths of the files below a folder (links to files included, dangling links not)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from _files_under(entry.path)
            elif entry.is_file() and entry.name.lower() not in _SKIP:
                yield entry.path


def iter_exports(inbox: Path) -> Iterator[InboxItem]:
    """Every export file in the inbox, athlete by athlete, in name order.

    Directory entries know their type without a ``stat`` per file: a club's inbox keeps
    every file it was ever given, and every night lists it all.
    """
    for folder in athlete_folders(inbox):
        for path in sorted(Path(p) for p in _files_under(str(folder))):
            yield InboxItem(athlete_id=folder.name, path=path)
