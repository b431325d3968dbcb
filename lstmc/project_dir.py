"""Where lstmc writes: the project directory of `lstmc compile` (which targets are safe to (re)place, and
replacing them atomically) and single output files (`write_file_atomically`).

Rules (issue 11, "a compile must never lose a user's files"):
- `-o` may not be the current directory, one of its ancestors, the home directory or one of its ancestors
  (`.`, `..`, `/`, `~` included), whatever symlinks lead there.
- An existing non-empty directory is replaced only if it holds a manifest (`MARKER`, JSON: format tag and the
  size and sha256 of every file lstmc wrote) and nothing else: a bare, forged or unparsable marker, a file not in
  the manifest (e.g. a Vitis HLS run's logs and project) or a generated file edited since is refused by name,
  never deleted.
- The new project is built in a hidden sibling, the old one renamed aside, the new one renamed into place, and
  only then are the old one's manifest files (still unchanged) deleted. Any failure restores the old project and
  removes the sibling, so the target is never empty or half-written.
- SIGTERM and SIGINT during the write become exceptions (the temporary directory is removed); during the
  two renames and the deletion of the old project they are held back until it is finished.
- Missing parent directories are created only when the compile has succeeded and the writing starts, and are
  removed again if the writing fails: a failed compile creates nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO

from lstmc.errors import LstmcError

MARKER = ".lstmc-build"
FORMAT = "lstmc-project"
VERSION = 1
_MAX_MARKER_BYTES = 1 << 20  # a manifest lists a few dozen files; anything larger is not ours


@dataclass
class Target:
    given: str  # the path as the user wrote it, for messages
    path: Path  # absolute, symlinks resolved: where the project goes
    manifest: dict | None  # the manifest of the existing project, None if there is nothing to replace


class Terminated(KeyboardInterrupt):
    """SIGTERM turned into an exception, so cleanup handlers run (a KeyboardInterrupt: the CLI reports it)."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------------------------------------ checks
def resolve_target(out_dir: str | os.PathLike, option: str = "-o") -> Path:
    """The absolute, symlink-free target; refuses the cwd, home and their ancestors."""
    given = os.fspath(out_dir)
    if not given:
        raise LstmcError(f"{option}: empty path")
    try:
        path = Path(given).resolve()
        cwd = Path.cwd().resolve()
    except (OSError, RuntimeError) as e:  # symlink loop, unreadable component, deleted cwd
        raise LstmcError(f"{option} {given}: cannot resolve the path ({e})") from None
    if path == cwd or path in cwd.parents:
        where = "the current directory" if path == cwd else "an ancestor of the current directory"
        raise LstmcError(
            f"{option} {given}: refusing to write a project over {where} ({path}); choose a new subdirectory"
        )
    try:
        home = Path.home().resolve()
    except (RuntimeError, KeyError):  # no HOME and no passwd entry: nothing to protect
        home = None
    if home is not None and (path == home or path in home.parents):
        where = "the home directory" if path == home else "an ancestor of the home directory"
        raise LstmcError(
            f"{option} {given}: refusing to write a project over {where} ({path}); choose a new subdirectory"
        )
    return path


def _nearest_existing(path: Path) -> Path:
    while not os.path.lexists(path):
        path = path.parent
    return path


def check_target(out_dir: str | os.PathLike, option: str = "-o") -> Target:
    """Refuse (LstmcError) unless `out_dir` is absent, empty, or an unmodified project lstmc compile wrote."""
    given = os.fspath(out_dir)
    path = resolve_target(out_dir, option)
    try:
        return _check_resolved(given, path, option)
    except OSError as e:  # unreadable directory or file inside it
        raise LstmcError(f"{option} {given}: cannot inspect it: {e.strerror or e} ({e.filename})") from None


def _check_resolved(given: str, path: Path, option: str) -> Target:
    if not os.path.lexists(path):
        existing = _nearest_existing(path.parent)
        if not existing.is_dir():
            raise LstmcError(f"{option} {given}: {existing} exists and is not a directory")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise LstmcError(f"{option} {given}: no permission to create directories in {existing}")
        return Target(given, path, None)
    if not path.is_dir():
        raise LstmcError(f"{option} {given} exists and is not a directory")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise LstmcError(f"{option} {given}: no permission to write in {path.parent}")
    if not any(path.iterdir()):
        return Target(given, path, {"files": {}, "dirs": []})
    return Target(given, path, read_manifest(path, given, option))


def _refuse(given: str, option: str, why: str) -> LstmcError:
    return LstmcError(
        f"{option} {given}: not written by lstmc compile (or modified since): {why}; "
        f"choose another {option} (lstmc deletes only files it wrote)"
    )


def read_manifest(path: Path, given: str, option: str = "-o") -> dict:
    """The validated manifest of the project at `path`: {"files": {relative path: {"size", "sha256"}}, "dirs":
    [relative path]}; every file and directory in `path` must be accounted for by it, unchanged."""
    marker = path / MARKER
    try:
        st = marker.lstat()
    except FileNotFoundError:
        raise _refuse(given, option, f"no {MARKER} manifest") from None
    if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_MARKER_BYTES:
        raise _refuse(given, option, f"{MARKER} is not a manifest file")
    try:
        data = json.loads(marker.read_bytes())
    except (OSError, ValueError) as e:
        raise _refuse(given, option, f"{MARKER} is not a manifest ({type(e).__name__})") from None
    files = data.get("files") if isinstance(data, dict) else None
    dirs = data.get("dirs") if isinstance(data, dict) else None
    if (
        not isinstance(data, dict)
        or data.get("format") != FORMAT
        or data.get("version") != VERSION
        or not isinstance(files, dict)
        or not isinstance(dirs, list)
    ):
        raise _refuse(given, option, f"{MARKER} is not an lstmc {FORMAT} v{VERSION} manifest")
    for rel in dirs:
        if not _safe_relpath(rel):
            raise _refuse(given, option, f"{MARKER} has an invalid entry {rel!r}")
    for rel, entry in files.items():
        if (
            not _safe_relpath(rel)
            or not isinstance(entry, dict)
            or not isinstance(entry.get("size"), int)
            or not isinstance(entry.get("sha256"), str)
            or len(entry["sha256"]) != 64
        ):
            raise _refuse(given, option, f"{MARKER} has an invalid entry {rel!r}")
    dirs = set(dirs)
    # Walk without following symlinks: a link is an entry like any other and must be in the manifest.
    for root, dirnames, filenames in os.walk(path, followlinks=False):
        rel_root = Path(root).relative_to(path)
        for name in sorted(dirnames):
            rel = (rel_root / name).as_posix()
            if os.path.islink(os.path.join(root, name)) or rel not in dirs:
                raise _refuse(given, option, f"{_show(given, rel)} is not in its manifest")
        for name in sorted(filenames):
            rel = (rel_root / name).as_posix()
            if rel == MARKER:
                continue
            if rel not in files:
                raise _refuse(given, option, f"{_show(given, rel)} is not in its manifest")
            if not _unchanged(path / rel, files[rel]):
                raise _refuse(given, option, f"{_show(given, rel)} differs from the file lstmc wrote")
    return {"files": files, "dirs": sorted(dirs)}


def _show(given: str, rel: str) -> str:
    return os.path.join(given, rel)


def _safe_relpath(rel) -> bool:
    if not isinstance(rel, str) or not rel or "\\" in rel or "\0" in rel or rel.startswith("/"):
        return False
    parts = rel.split("/")
    return all(p not in ("", ".", "..") for p in parts) and rel != MARKER


def _unchanged(file: Path, entry: dict) -> bool:
    try:
        st = file.lstat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == entry["size"] and _sha256(file) == entry["sha256"]


# ------------------------------------------------------------------------------------------------ manifest
def write_manifest(directory: Path, source: str = "") -> dict:
    """Record every regular file and directory under `directory` (symlinks and special files are not expected:
    refused)."""
    files: dict[str, dict] = {}
    dirs: list[str] = []
    for root, dirnames, filenames in os.walk(directory, followlinks=False):
        for name in sorted(dirnames) + sorted(filenames):
            full = Path(root) / name
            rel = full.relative_to(directory).as_posix()
            st = full.lstat()
            if stat.S_ISDIR(st.st_mode):
                dirs.append(rel)
            elif stat.S_ISREG(st.st_mode):
                files[rel] = {"size": st.st_size, "sha256": _sha256(full)}
            else:
                raise LstmcError(f"internal error: the project writer made a non-regular file {rel}")
    files.pop(MARKER, None)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "source": source,
        "files": dict(sorted(files.items())),
        "dirs": sorted(dirs),
    }
    (directory / MARKER).write_text(json.dumps(manifest, indent=1) + "\n")
    return {"files": manifest["files"], "dirs": manifest["dirs"]}


def remove_project(path: Path, manifest: dict) -> list[str]:
    """Delete the manifest's files that are still unchanged, then its directories left empty (and `path` itself
    when empty). Returns the manifest files kept because they changed (relative paths)."""
    files = manifest.get("files", {})
    kept = []
    for rel, entry in files.items():
        full = path / rel
        if not os.path.lexists(full):
            continue
        if _unchanged(full, entry):
            full.unlink()
        else:
            kept.append(rel)
    marker = path / MARKER  # ours; it no longer describes what is left
    if marker.is_file() and not marker.is_symlink():
        marker.unlink()
    dirs = sorted((Path(d) for d in manifest.get("dirs", [])), key=lambda p: -len(p.parts))
    for d in [*dirs, Path(".")]:
        with contextlib.suppress(OSError):  # not empty: something that is not ours is still inside
            (path / d).rmdir()
    return kept


# ------------------------------------------------------------------------------------------------ signals
class SignalGuard:
    """While active (main thread only), SIGTERM raises Terminated and SIGINT KeyboardInterrupt; inside
    `critical()` both are held back and raised when it ends. Handlers a host program installed are left alone."""

    def __init__(self) -> None:
        # what signal.signal returns: a handler, SIG_DFL/SIG_IGN (ints), or None (not installed from Python)
        self._previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}
        self._critical = 0
        self._pending: int | None = None

    def _handler(self, signum, frame) -> None:
        if self._critical:
            self._pending = self._pending or signum
            return
        self._raise(signum)

    @staticmethod
    def _raise(signum: int) -> None:
        if signum == signal.SIGTERM:
            raise Terminated(f"terminated by signal {signum}")
        raise KeyboardInterrupt

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is not threading.main_thread():
            return self
        defaults = {signal.SIGTERM: signal.SIG_DFL, signal.SIGINT: signal.default_int_handler}
        for sig, default in defaults.items():
            if signal.getsignal(sig) is default:
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
        if not self._critical and self._pending is not None:
            signum, self._pending = self._pending, None
            self._raise(signum)


# ------------------------------------------------------------------------------------------------ writing
def _make_parents(directory: Path) -> list[Path]:
    """mkdir -p, returning the directories created (outermost first) so a failure can remove them again."""
    missing = []
    while not os.path.lexists(directory):
        missing.append(directory)
        directory = directory.parent
    created = []
    for d in reversed(missing):
        d.mkdir()
        created.append(d)
    return created


def write_project(
    out_dir: str | os.PathLike, fill: Callable[[Path], None], source: str = "", option: str = "-o"
) -> str | None:
    """Build a project with `fill(tmp_dir)` and put it at `out_dir` atomically (see the module docstring).

    Returns a warning when files of the old project could not be deleted because they changed during the
    compile (they stay in a hidden `.NAME.lstmc-old-*` sibling), else None."""
    given = os.fspath(out_dir)
    with SignalGuard() as guard:
        created: list[Path] = []
        tmp: Path | None = None
        try:
            target = check_target(out_dir, option)  # again: the directory may have changed during the compile
            created = _make_parents(target.path.parent)
            tmp = target.path.parent / f".{target.path.name}.lstmc-new-{secrets.token_hex(6)}"
            tmp.mkdir(mode=0o700)  # private while half-written
            fill(tmp)
            write_manifest(tmp, source)
            tmp.chmod(0o777 & ~_umask())
            with guard.critical():
                warning = _swap(tmp, target)
                tmp = None
            return warning
        except OSError as e:
            where = f" ({e.filename})" if e.filename else ""
            raise LstmcError(f"{option} {given}: cannot write the project: {e.strerror or e}{where}") from e
        finally:
            if tmp is not None:
                with guard.critical():  # a second signal must not interrupt the cleanup
                    shutil.rmtree(tmp, ignore_errors=True)
                    for d in reversed(created):
                        with contextlib.suppress(OSError):
                            d.rmdir()


def _swap(new: Path, target: Target) -> str | None:
    """Rename `new` to the target; the old project (if any) goes aside first and is deleted only afterwards."""
    old = None
    if target.manifest is not None:
        old = target.path.parent / f".{target.path.name}.lstmc-old-{secrets.token_hex(6)}"
        os.rename(target.path, old)
    try:
        os.rename(new, target.path)
    except BaseException:
        if old is not None:
            os.rename(old, target.path)
        raise
    if old is None:
        return None
    assert target.manifest is not None  # the old project went aside only then
    try:
        kept = remove_project(old, target.manifest)
    except OSError as e:  # the new project is in place: keep the old one aside rather than fail the compile
        return f"could not delete the previous project ({e.strerror or e}); it is in {old}"
    if os.path.lexists(old):  # files changed or added during the compile: never deleted
        what = ", ".join(kept) if kept else "files not written by lstmc"
        return f"the previous project kept {what} (changed during the compile); see {old}"
    return None


# ------------------------------------------------------------------------------------------------ single files
def write_file_atomically(path: str, write: Callable[[BinaryIO], object], option: str) -> None:
    """Write one output file (`lstmc import -o`, `run --output`) through a temporary file in its directory that
    is renamed over `path` at the end: no half-written output, no leftover temporary (also on SIGTERM/SIGINT),
    and a one-line LstmcError naming `option` for a directory, a missing directory or an I/O error."""
    if not path or path.endswith(("/", os.sep)):
        raise LstmcError(f"{option} {path!r}: expected a file name")
    if os.path.isdir(path):
        raise LstmcError(f"{option} {path}: is a directory; expected a file name")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise LstmcError(f"{option} {path}: directory {os.path.dirname(path) or directory} does not exist")
    try:
        st = os.stat(path)  # follows symlinks: what the user's path finally names
    except OSError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        # /dev/null, /dev/stdout, a FIFO: write into it as a shell redirection would; renaming a file over it
        # would replace a device node (as root, /dev/null for the whole machine)
        try:
            with open(path, "wb") as f:
                write(f)
        except OSError as e:
            raise LstmcError(f"{option} {path}: cannot write it: {e.strerror or e}") from e
        return
    if os.path.islink(path):  # replace the file the link names, never the link itself
        path = os.path.realpath(path)
        directory = os.path.dirname(path)
    mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()  # new file: what open() gives
    with SignalGuard() as guard:
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.chmod(tmp, mode)
            with guard.critical():
                os.replace(tmp, path)
                tmp = None
        except OSError as e:
            raise LstmcError(f"{option} {path}: cannot write it: {e.strerror or e}") from e
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


NPZ_MAX_KEY_BYTES = 65535 - len(".npy")  # a zip member name is at most 65535 bytes


def check_npz_keys(keys, what: str) -> None:
    """An .npz keyed by model value names can only be written when each name fits a zip member name."""
    for key in keys:
        size = len(str(key).encode("utf-8", "surrogatepass"))
        if size > NPZ_MAX_KEY_BYTES:
            raise LstmcError(
                f"{what} {str(key)[:40]!r}... has a {size}-byte name; an .npz file can only hold names "
                f"of up to {NPZ_MAX_KEY_BYTES} bytes: rename it in the model"
            )
