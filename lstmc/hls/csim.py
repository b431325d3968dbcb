"""Compiling the kernel + testbench with g++ for C-simulation, with a per-user binary cache.

The cache only ever hands out a binary it can vouch for (issue 11: a shared, predictable path let anyone plant an
executable that `lstmc verify` would run):
- where: `$LSTMC_CACHE_DIR/csim`, else `$XDG_CACHE_HOME/lstmc/csim`, else `~/.cache/lstmc/csim`, created with
  mode 0700. A directory that is not ours (owner != uid, a symlink, group/world writable) is not used: the build
  goes to a private `mkdtemp` directory for this process instead (removed at exit), as when the home directory is
  unwritable;
- key: sha256 over the sources, the resolved compiler path, its `--version`, the flags and the ap_types headers'
  contents, so any change of one of them is a different binary;
- integrity: beside each binary `<name>.sha256` holds the binary's own sha256, checked before every hand-out;
  on any doubt (missing or unreadable record, mismatch, not a regular file, a symlink, wrong owner, writable by
  others) the binary is rebuilt. A build goes to a temporary name in the cache directory, then os.replace.

Precompiled headers (`pch_headers`: ap_int.h and hls_stream.h, which lstmc/hls/build.py passes only for a
kernel without a native-integer twin; the twin includes no Xilinx header): parsing those headers is most of such
a build, so they are compiled once per compiler, flags and ap_types contents into `pch-<key>.h.gch` in the same
directory, under the same rules (our own regular file, its sha256 record checked before use, built under a
temporary name), and forced into every source with `-include`. A compiler that cannot build one, or rejects
it, builds without it.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from lstmc.errors import LstmcError
from lstmc.hls.project import ap_types_dir

DEFAULT_FLAGS = ("-std=c++14", "-O1", "-w")
_KEY_VERSION = b"lstmc-csim-cache/1\0"
_PCH_KEY_VERSION = b"lstmc-csim-pch/1\0"

_private_dir: Path | None = None  # this process's fallback cache
_header_digests: dict[str, str] = {}  # ap_types directory -> content hash (hashed once per process)
_compiler_ids: dict[tuple, str] = {}  # (path, size, mtime) -> --version output
_warned: set[str] = set()
_verified: dict[tuple, bool] = {}  # (path, dev, inode, size, mtime) of a precompiled header -> hash checked


def _sha256_file(path: Path | int) -> str:
    h = hashlib.sha256()
    with open(path, "rb", closefd=not isinstance(path, int)) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------ the directory
def default_cache_dir() -> Path:
    """Where the per-user cache lives (not created)."""
    root = os.environ.get("LSTMC_CACHE_DIR")
    if root:
        return Path(root) / "csim"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"  # XDG: relative values are invalid
    return base / "lstmc" / "csim"


def untrusted_reason(path: Path) -> str | None:
    """Why `path` may not hold binaries we run, or None if it is a directory only the current user can write."""
    try:
        st = os.lstat(path)
    except OSError as e:
        return f"cannot stat it ({e.strerror})"
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a directory"
    if st.st_uid != os.getuid():
        return f"it is owned by uid {st.st_uid}, not {os.getuid()}"
    if st.st_mode & 0o022:
        return f"it is group/world writable (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _private_cache() -> Path:
    global _private_dir
    if _private_dir is None or not _private_dir.is_dir():
        _private_dir = Path(tempfile.mkdtemp(prefix="lstmc-csim-"))  # mode 0700, unique
        atexit.register(shutil.rmtree, _private_dir, True)
    return _private_dir


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        print(f"lstmc: warning: {message}", file=sys.stderr)


def resolve_cache_dir(requested: Path | None = None) -> Path:
    """A directory only this user can write: `requested` or the default, created 0700; else a private one."""
    try:
        path = Path(requested) if requested is not None else default_cache_dir()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)
    except (OSError, RuntimeError, KeyError):  # unwritable or unknown home, read-only fs: private cache
        return _private_cache()
    reason = untrusted_reason(path)
    if reason is not None:
        _warn_once(f"not using the C-simulation cache {path}: {reason}; building in a private directory")
        return _private_cache()
    return path


# ------------------------------------------------------------------------------------------------ the key
def find_compiler() -> str:
    cxx = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")
    if cxx is None:
        raise LstmcError("C-simulation needs a C++ compiler (g++); none found on PATH")
    return os.path.realpath(cxx)


def compiler_id(cxx: str) -> str:
    """`cxx --version`, remembered per process for an unchanged executable."""
    st = os.stat(cxx)
    key = (cxx, st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _compiler_ids:
        try:
            proc = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise LstmcError(f"C++ compiler {cxx} does not run: {e}") from e
        _compiler_ids[key] = f"{proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return _compiler_ids[key]


def headers_digest(directory: Path) -> str:
    """sha256 over the listing and contents of a header directory, computed once per process."""
    key = os.path.realpath(directory)
    if key not in _header_digests:
        h = hashlib.sha256()
        for root, dirnames, filenames in os.walk(key):
            dirnames.sort()
            for name in sorted(filenames):
                full = Path(root) / name
                rel = full.relative_to(key).as_posix().encode()
                h.update(len(rel).to_bytes(8, "little") + rel)
                h.update(bytes.fromhex(_sha256_file(full)))
        _header_digests[key] = h.hexdigest()
    return _header_digests[key]


def cache_key(
    sources: Sequence[Path], cxx: str, flags: Sequence[str], headers: Path, pch_headers: Sequence[str] = ()
) -> str:
    h = hashlib.sha256(_KEY_VERSION)

    def field(data: bytes) -> None:  # length-prefixed: no two different inputs hash alike by concatenation
        h.update(len(data).to_bytes(8, "little") + data)

    for src in sources:
        field(src.name.encode())
        field(src.read_bytes())
    field(cxx.encode())
    field(compiler_id(cxx).encode())
    for flag in flags:
        field(flag.encode())
    field(headers_digest(headers).encode())
    for name in pch_headers:  # a build with forced includes is a different build (none: the key stays as it was)
        field(b"-include " + name.encode())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------ integrity
def _trusted(binary: Path, record: Path, memo: bool = False) -> bool:
    """The binary is a regular, non-linked file of ours, not writable by others, whose sha256 is the record's.
    With `memo`, a file already hashed by this process and unchanged since (same inode, size and mtime) is not
    hashed again (precompiled headers are ~80 MB)."""
    uid = os.getuid()
    try:
        rst = os.lstat(record)
        if not stat.S_ISREG(rst.st_mode) or rst.st_uid != uid or rst.st_mode & 0o022 or rst.st_size > 200:
            return False
        expected = record.read_text().strip()
        fd = os.open(binary, os.O_RDONLY | os.O_NOFOLLOW)  # a symlink fails here
    except (OSError, UnicodeDecodeError):
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != uid or st.st_mode & 0o022 or st.st_nlink != 1:
            return False
        seen = (str(binary), expected, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if memo and _verified.get(seen):
            return True
        ok = _sha256_file(fd) == expected
        if memo:
            _verified[seen] = ok
        return ok
    finally:
        os.close(fd)


def _build(
    cmd_prefix: list[str], sources: Sequence[Path], directory: Path, binary: Path, record: Path, mode: int = 0o700
) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=".build-", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp_record = tmp.with_name(tmp.name + ".sha256")
    try:
        proc = subprocess.run([*cmd_prefix, *map(str, sources), "-o", str(tmp)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise LstmcError(f"g++ failed on the generated kernel:\n{proc.stderr[-4000:]}")
        os.chmod(tmp, mode)
        record_fd = os.open(tmp_record, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # umask-proof mode
        with os.fdopen(record_fd, "w") as f:
            f.write(_sha256_file(tmp) + "\n")
        # Binary first, then its record: a reader in between sees a mismatch and rebuilds, never a wrong hash.
        os.replace(tmp, binary)
        os.replace(tmp_record, record)
    finally:
        for leftover in (tmp, tmp_record):
            if os.path.lexists(leftover):
                os.unlink(leftover)


def precompiled_header(
    directory: Path, cxx: str, flags: Sequence[str], headers: Path, pch_headers: Sequence[str]
) -> Path | None:
    """A header `#include`-ing `pch_headers` whose verified `.gch` lies beside it in `directory` (built on first
    use), to pass as `-include`; None when the compiler cannot build one."""
    if not all(re.fullmatch(r"[A-Za-z0-9_]+\.h", name) for name in pch_headers):
        raise ValueError(f"precompiled headers must be plain header names, got {list(pch_headers)}")
    text = "".join(f"#include <{name}>\n" for name in pch_headers).encode()
    h = hashlib.sha256(_PCH_KEY_VERSION)
    for data in (
        text,
        cxx.encode(),
        compiler_id(cxx).encode(),
        *(f.encode() for f in flags),
        headers_digest(headers).encode(),
    ):
        h.update(len(data).to_bytes(8, "little") + data)
    key = h.hexdigest()
    header = directory / f"pch-{key}.h"
    gch, record = directory / f"pch-{key}.h.gch", directory / f"pch-{key}.h.gch.sha256"
    if _header_is(header, text) and _trusted(gch, record, memo=True):
        return header
    fd, tmp_name = tempfile.mkstemp(prefix=".pch-", suffix=".h", dir=directory)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text)
        os.replace(tmp_name, header)
        _build([cxx, *flags, f"-I{headers}", "-x", "c++-header"], [header], directory, gch, record, mode=0o600)
    except (OSError, LstmcError):
        return None
    finally:
        if os.path.lexists(tmp_name):
            os.unlink(tmp_name)
    return header if _header_is(header, text) and _trusted(gch, record, memo=True) else None


def _header_is(path: Path, text: bytes) -> bool:
    """`path` is a regular, non-linked file of ours, not writable by others, holding exactly `text`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022 or st.st_nlink != 1:
            return False
        return f.read(len(text) + 1) == text


def compile_csim(
    src_dir: Path,
    kernel: str,
    cache_dir: Path | None = None,
    flags: Sequence[str] = DEFAULT_FLAGS,
    pch_headers: Sequence[str] = (),
    unity: bool = False,
) -> Path:
    """g++ `kernel`.cpp and `kernel`_tb.cpp from `src_dir` (and `kernel`.h); returns a verified binary that
    stays valid after `src_dir` is gone (in the per-user cache, or this process's private directory).
    `pch_headers`: headers every source includes first, precompiled once and forced in (module docstring).
    `unity` (implied by `pch_headers`): one translation unit, so the headers are parsed once (a kernel whose
    native twin includes no Xilinx header needs no precompiled one: lstmc/hls/emit.py)."""
    src_dir = Path(src_dir)
    cxx = find_compiler()
    headers = ap_types_dir()
    sources = [src_dir / f"{kernel}.cpp", src_dir / f"{kernel}_tb.cpp", src_dir / f"{kernel}.h"]
    key = cache_key(sources, cxx, flags, headers, pch_headers)
    directory = resolve_cache_dir(cache_dir)
    binary = directory / f"csim-{key}"  # no user text (kernel names) in file names
    record = directory / f"csim-{key}.sha256"
    if _trusted(binary, record):
        return binary
    cmd = [cxx, *flags, f"-I{headers}", f"-I{src_dir}"]
    if pch_headers or unity:
        # One translation unit, so the headers are read once: the precompiled headers, then the testbench
        # forced in ahead of the kernel (it declares the kernel through the header; the kernel's names can
        # never be the testbench's `main`/`lstmc_tb`, hlscpp-prepare-emission reserves them).
        pch = precompiled_header(directory, cxx, flags, headers, pch_headers) if pch_headers else None
        one_unit = [*cmd, *(["-include", str(pch)] if pch else []), "-include", str(sources[1])]
        try:
            _build(one_unit, sources[:1], directory, binary, record)
        except LstmcError:
            pass  # the plain build below shows a real error
        else:
            if _trusted(binary, record):
                return binary
    _build(cmd, sources[:2], directory, binary, record)
    if not _trusted(binary, record):  # e.g. a concurrent build replaced it in between: ours is as good, retry once
        _build(cmd, sources[:2], directory, binary, record)
        if not _trusted(binary, record):
            raise LstmcError(f"the C-simulation binary {binary} changed while it was being built; try again")
    return binary
