"""Checking a disk index against the checksums its manifests record, and falling back from damage.

Opening a generation checks sizes, counts and ids only (it must stay fast); ``verify_index``
reads every byte of every generation and compares it with the manifest's checksums, so bit rot
inside a file that kept its size is found too. Generations written before checksums were
recorded are checked by size and reported as such.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.errors import CitebotIndexError, IndexCorrupt, IndexNotFound
from index.manifest import MANIFEST_NAME, REBUILD_HINT, Manifest, file_checksum, manifest_intact
from index.manifest import read_manifest as _read_manifest
from index.settings import KnowledgeBaseSettings
from index.store_layout import generation_names, generations_dir, read_current, write_current


@dataclass(frozen=True)
class FileProblem:
    """A damaged file of a generation: its path inside the generation, and what is wrong."""

    name: str
    problem: str


@dataclass(frozen=True)
class GenerationCheck:
    """The outcome of checking one generation."""

    generation: str
    serving: bool
    built_at: str
    files: int
    size_bytes: int
    # False when the manifest predates checksums: only sizes could be compared.
    checksummed: bool
    problems: tuple[FileProblem, ...]

    @property
    def intact(self) -> bool:
        """Whether nothing wrong was found."""
        return not self.problems


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of ``verify_index``: each checked generation, serving one first."""

    path: str
    generations: tuple[GenerationCheck, ...]
    seconds: float

    @property
    def size_bytes(self) -> int:
        """Bytes read (or, for unchecksummed generations, sized)."""
        return sum(g.size_bytes for g in self.generations)

    @property
    def serving(self) -> GenerationCheck | None:
        """The serving generation's check (None when CURRENT names none that exists)."""
        return next((g for g in self.generations if g.serving), None)

    @property
    def fallback(self) -> GenerationCheck | None:
        """The newest intact generation that is not serving, if any."""
        spare = [g for g in self.generations if not g.serving and g.intact]
        return max(spare, key=lambda g: g.generation, default=None)

    def problem_line(self) -> str | None:
        """One line naming the first damaged file and the fix, or None when all is intact."""
        damaged = [g for g in self.generations if not g.intact]
        if not damaged:
            return None
        first = damaged[0]
        where = generations_dir(Path(self.path)) / first.generation / first.problems[0].name
        more = sum(len(g.problems) for g in damaged) - 1
        what = f"index file {where} is damaged ({first.problems[0].problem})"
        if more:
            what += f" and {more} more file{'s' if more > 1 else ''} too"
        if not first.serving:
            return (f"{what}; generation {first.generation} is not serving, so nothing answers "
                    f"from it: delete {where.parent} (the next builds would prune it too)")
        spare = self.fallback
        if spare is None:
            return f"{what}; {REBUILD_HINT}"
        return (f"{what}; {REBUILD_HINT}, or run `citebot index verify --fall-back` to serve the "
                f"intact generation {spare.generation} (built {spare.built_at}) until then")


Progress = Callable[[int], None]


def _manifest_problems(folder: Path) -> tuple[Manifest | None, list[FileProblem]]:
    try:
        manifest = _read_manifest(folder)
        intact = manifest_intact(folder)
    except CitebotIndexError as exc:
        return None, [FileProblem(MANIFEST_NAME, f"unreadable: {exc.one_line()}")]
    if intact is False:
        return manifest, [FileProblem(MANIFEST_NAME, "its content differs from its own checksum")]
    return manifest, []


def check_generation(
    folder: Path, serving: bool, progress: Progress | None = None
) -> GenerationCheck:
    """Compare every file a generation's manifest lists with its recorded size and checksum."""
    manifest, problems = _manifest_problems(folder)
    if manifest is None:
        return GenerationCheck(folder.name, serving, "", 0, 0, False, tuple(problems))
    sums = dict(manifest.checksums)
    algorithm = manifest.checksum_algorithm
    total = 0
    for name, size in manifest.files:
        path = folder / name
        try:
            actual = path.stat().st_size
        except FileNotFoundError:
            problems.append(FileProblem(name, "missing"))
            continue
        total += size
        if actual != size:
            problems.append(FileProblem(name, f"{actual} bytes, the manifest says {size}"))
            if progress is not None:
                progress(size)
            continue
        expected = sums.get(name)
        if expected is None:
            if progress is not None:
                progress(size)
            continue
        try:
            digest = file_checksum(path, algorithm, progress)
        except OSError as exc:
            problems.append(FileProblem(name, f"unreadable: {exc.strerror or exc}"))
            continue
        if digest != expected:
            problems.append(
                FileProblem(name, f"its {algorithm} checksum differs from the manifest's")
            )
    return GenerationCheck(
        folder.name, serving, manifest.built_at, len(manifest.files), total,
        bool(sums), tuple(problems),
    )


def _planned_bytes(folders: list[Path]) -> int:
    """Bytes ``check_generation`` will read, for a progress bar (unreadable manifests count 0)."""
    total = 0
    for folder in folders:
        try:
            total += sum(size for _name, size in _read_manifest(folder).files)
        except CitebotIndexError:
            pass
    return total


def _progress_bar(enabled: bool, total: int) -> Any:
    if not (enabled and total and sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="verifying", unit="B", unit_scale=True, file=sys.stderr)


def verify_index(
    settings: KnowledgeBaseSettings, *, serving_only: bool = False, progress: bool = False
) -> VerifyReport:
    """Check the serving generation and (unless ``serving_only``) every other kept one.

    With ``serving_only``, the others are checked only when the serving one is damaged, to name
    one to fall back to. ``progress`` shows a bar on a terminal.
    """
    started = time.monotonic()
    root = Path(settings.index.path)
    if not root.is_dir():
        raise IndexNotFound(f"no index at {root}; run `citebot index build`")
    current = read_current(root)
    names = [current] + [n for n in reversed(generation_names(root)) if n != current]
    folders = [generations_dir(root) / name for name in names]
    if not folders[0].is_dir():
        raise IndexCorrupt(f"index generation {folders[0]} is missing; {REBUILD_HINT}")
    first = folders[:1] if serving_only else folders
    bar = _progress_bar(progress, _planned_bytes(first))
    try:
        update = bar.update if bar is not None else None
        checks = [check_generation(f, f.name == current, update) for f in first]
    finally:
        if bar is not None:
            bar.close()
    if serving_only and not checks[0].intact:
        checks += [check_generation(f, False) for f in folders[1:]]
    return VerifyReport(str(root), tuple(checks), round(time.monotonic() - started, 3))


@dataclass(frozen=True)
class FallBack:
    """What ``fall_back`` did: the damaged generation it left (and deleted), the one now serving."""

    damaged: str
    serving: str
    report: VerifyReport


def fall_back(settings: KnowledgeBaseSettings, *, progress: bool = False) -> FallBack:
    """Serve the newest intact generation instead of a damaged serving one, and delete the latter.

    Runs under the build lock. Raises when the serving generation is intact or no intact one is
    left; a running bot picks the switch up at its next refresh.
    """
    from index.build import build_lock

    root = Path(settings.index.path)
    if not root.is_dir():
        raise IndexNotFound(f"no index at {root}; run `citebot index build`")
    with build_lock(root):
        report = verify_index(settings, progress=progress)
        serving, spare = report.serving, report.fallback
        if serving is None or serving.intact:
            name = serving.generation if serving else read_current(root)
            raise NothingToFallBackFrom(
                f"the serving generation {name} of {root} is intact; nothing to fall back from"
            )
        if spare is None:
            raise IndexCorrupt(
                f"no intact generation of {root} to fall back to ({report.problem_line()})"
            )
        write_current(root, spare.generation)
        # A running reader keeps its open files; nobody can switch back to a damaged generation.
        shutil.rmtree(generations_dir(root) / serving.generation, ignore_errors=True)
    return FallBack(serving.generation, spare.generation, report)


class NothingToFallBackFrom(CitebotIndexError):
    """``--fall-back`` was asked for while the serving generation is intact."""
