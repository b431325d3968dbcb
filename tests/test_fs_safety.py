"""Issue 11, data loss and the C-simulation cache: lstmc never deletes or overwrites what it did not write, never
leaves temporaries behind, and never runs a binary it cannot vouch for.

Properties:
- `compile -o` refuses `.`, `..`, the cwd, its ancestors, `/`, home (also through a symlink) and any directory
  whose manifest is missing, forged or out of date (extra or edited files are named), leaving it byte-identical;
- replacing a project is atomic: a failure while writing or while swapping leaves the old project intact and no
  hidden sibling; files of the old project changed during the compile are kept; missing parents are created only
  for a successful compile; SIGTERM/SIGINT while writing leave no temporary directory;
- the csim cache is per user (0700, owner checked, LSTMC_CACHE_DIR/XDG_CACHE_HOME), keyed on sources, compiler,
  flags and headers, and a tampered, linked or unrecorded binary is rebuilt, never run;
- `import -o`, `run --output` on a directory or a missing directory are one-line errors; a failed write removes
  its temporary file.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, needs_cxx

from lstmc import cli, project_dir
from lstmc.errors import LstmcError
from lstmc.hls import csim

MODEL = FIXTURES / "l1_w4_po2.onnx"
LSTMC = str(Path(sys.executable).parent / "lstmc")


def lstmc(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([LSTMC, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def assert_one_line_error(stderr: str, *fragments: str) -> None:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("lstmc: error: "), stderr
    assert "Traceback" not in stderr
    for f in fragments:
        assert f in lines[0], lines[0]


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every entry under `directory` (files with contents, directories as None)."""
    return {
        str(p.relative_to(directory)): (None if p.is_dir() else p.read_bytes()) for p in sorted(directory.rglob("*"))
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """One real `lstmc compile`; tests copy it (contents, hence the manifest, stay valid)."""
    out = tmp_path_factory.mktemp("earlier") / "build"
    proc = lstmc("compile", MODEL, "-o", out)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture
def earlier(built, tmp_path) -> Path:
    out = tmp_path / "build"
    shutil.copytree(built, out)
    return out


def fill_with(files: dict[str, str]):
    def fill(tmp: Path) -> None:
        for rel, text in files.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(text)

    return fill


# ------------------------------------------------------------------------------------------------ -o targets
def test_manifest_lists_every_file_with_its_hash(earlier):
    manifest = json.loads((earlier / project_dir.MARKER).read_text())
    assert manifest["format"] == "lstmc-project" and manifest["version"] == 1
    on_disk = {str(p.relative_to(earlier)) for p in earlier.rglob("*") if p.is_file()} - {project_dir.MARKER}
    assert set(manifest["files"]) == on_disk
    assert manifest["dirs"] == ["ir"]
    import hashlib

    for rel, entry in manifest["files"].items():
        assert entry["sha256"] == hashlib.sha256((earlier / rel).read_bytes()).hexdigest(), rel


@pytest.mark.parametrize("target", [".", "..", "{cwd}", "/"])
def test_refuses_cwd_and_ancestors_inside_an_earlier_project(earlier, target):
    """Before: `compile -o .` inside a project emptied it."""
    before, siblings = snapshot(earlier), sorted(os.listdir(earlier.parent))
    target = target.format(cwd=earlier)
    proc = lstmc("compile", MODEL, "-o", target, cwd=earlier)
    assert proc.returncode == 1
    assert_one_line_error(proc.stderr, f"-o {target}", "refusing")
    assert snapshot(earlier) == before
    assert sorted(os.listdir(earlier.parent)) == siblings


def test_refuses_home_its_ancestors_and_symlinks_to_cwd(tmp_path, monkeypatch):
    home, work = tmp_path / "users" / "home", tmp_path / "work"
    home.mkdir(parents=True)
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    with pytest.raises(LstmcError, match=r"-o .*home.*the home directory"):
        project_dir.check_target(home)
    with pytest.raises(LstmcError, match="an ancestor of the home directory"):
        project_dir.check_target(home / "..")  # tmp_path/users: not an ancestor of the cwd
    (tmp_path / "link").symlink_to(work)
    with pytest.raises(LstmcError, match=r"-o .*link: refusing .* the current directory"):
        project_dir.check_target(tmp_path / "link")
    project_dir.check_target(work / "build")  # a new subdirectory is fine


@pytest.mark.parametrize(
    "marker",
    [
        "written by lstmc compile from m.onnx\n",  # the old bare marker, or a stray one
        "{not json",
        json.dumps({"format": "lstmc-project", "version": 1, "files": {}, "dirs": []}),  # notes.txt not listed
        json.dumps(
            {
                "format": "lstmc-project",
                "version": 1,
                "dirs": [],
                "files": {"notes.txt": {"size": 8, "sha256": "0" * 64}},
            }
        ),  # listed with a wrong hash
        json.dumps(
            {
                "format": "lstmc-project",
                "version": 1,
                "dirs": [],
                "files": {"../notes.txt": {"size": 8, "sha256": "0" * 64}},
            }
        ),  # escapes the directory
        json.dumps({"format": "other", "version": 1, "files": {}, "dirs": []}),
    ],
    ids=["bare", "unparsable", "unlisted", "wrong-hash", "dotdot", "wrong-format"],
)
def test_forged_marker_is_refused_and_nothing_deleted(tmp_path, marker):
    out = tmp_path / "mine"
    (out / "sub").mkdir(parents=True)
    (out / "notes.txt").write_text("precious")
    (out / "sub" / "data.bin").write_bytes(b"\0\1")
    (out / project_dir.MARKER).write_text(marker)
    before = snapshot(out)
    with pytest.raises(LstmcError, match=r"-o .*mine: not written by lstmc compile \(or modified since\)"):
        project_dir.check_target(out)
    with pytest.raises(LstmcError):
        project_dir.write_project(out, fill_with({"k.cpp": "new"}))
    assert snapshot(out) == before
    assert os.listdir(tmp_path) == ["mine"]


def test_forged_marker_through_the_cli(tmp_path):
    """Before: a stray marker made lstmc delete the directory's other files."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    (out / project_dir.MARKER).write_text("written by lstmc compile\n")
    before = snapshot(out)
    proc = lstmc("compile", MODEL, "-o", out)
    assert proc.returncode == 1
    assert_one_line_error(proc.stderr, str(out), "not written by lstmc compile", "choose another -o")
    assert snapshot(out) == before


def test_marker_that_is_a_symlink_is_refused(earlier, tmp_path):
    real = tmp_path / "manifest.json"
    shutil.move(earlier / project_dir.MARKER, real)
    (earlier / project_dir.MARKER).symlink_to(real)
    with pytest.raises(LstmcError, match="not a manifest file"):
        project_dir.check_target(earlier)


def test_extra_user_files_in_an_earlier_project_are_named_not_deleted(earlier):
    (earlier / "vitis_hls.log").write_text("hours of synthesis")
    (earlier / "proj" / "solution1").mkdir(parents=True)
    (earlier / "proj" / "solution1" / "impl.v").write_text("module top;")
    before = snapshot(earlier)
    proc = lstmc("compile", MODEL, "-o", earlier)
    assert proc.returncode == 1
    assert_one_line_error(proc.stderr, "not written by lstmc compile", os.path.join(str(earlier), "proj"))
    assert snapshot(earlier) == before
    shutil.rmtree(earlier / "proj")
    with pytest.raises(LstmcError, match="vitis_hls.log is not in its manifest"):
        project_dir.check_target(earlier)


def test_edited_generated_file_is_refused(earlier):
    cpp = earlier / "lstmc_kernel.cpp"
    cpp.write_text(cpp.read_text() + "// my hand-tuned pragma\n")
    with pytest.raises(LstmcError, match="lstmc_kernel.cpp differs from the file lstmc wrote"):
        project_dir.check_target(earlier)


def test_replacement_removes_only_the_old_manifest_files(tmp_path):
    out = tmp_path / "build"
    assert project_dir.write_project(out, fill_with({"a.cpp": "old", "ir/0.mlir": "old ir"})) is None
    assert project_dir.write_project(out, fill_with({"b.cpp": "new"})) is None
    assert sorted(os.listdir(out)) == [project_dir.MARKER, "b.cpp"]
    assert os.listdir(tmp_path) == ["build"]
    project_dir.check_target(out)  # the new manifest is valid


def test_replacement_into_an_empty_directory_and_a_symlinked_target(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    project_dir.write_project(tmp_path / "link", fill_with({"k.cpp": "x"}))
    assert (tmp_path / "link").is_symlink() and (real / "k.cpp").read_text() == "x"
    assert sorted(os.listdir(tmp_path)) == ["link", "real"]


@pytest.mark.parametrize(
    "exc", [OSError(errno.ENOSPC, "No space left on device"), RuntimeError("bug")], ids=["disk-full", "crash"]
)
def test_failure_while_writing_keeps_the_old_project(earlier, monkeypatch, exc):
    import onnx

    from lstmc.compile import CompileOptions, compile_model
    from lstmc.hls import project

    before = snapshot(earlier)
    calls = []
    real = project.write_codes

    def failing(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:  # after tb_input.bin and the sources are written
            raise exc
        real(path, *args, **kwargs)

    monkeypatch.setattr(project, "write_codes", failing)
    with pytest.raises((LstmcError, RuntimeError)) as info:
        compile_model(onnx.load(MODEL), earlier, CompileOptions(), source=str(MODEL))
    if isinstance(exc, OSError):
        assert info.type is LstmcError and "No space left on device" in str(info.value)
    assert len(calls) == 2
    assert snapshot(earlier) == before
    assert os.listdir(earlier.parent) == ["build"]


def test_failure_during_the_swap_restores_the_old_project(tmp_path, monkeypatch):
    out = tmp_path / "build"
    project_dir.write_project(out, fill_with({"a.cpp": "old"}))
    before = snapshot(out)
    real_rename, renames = os.rename, []

    def rename(src, dst):
        renames.append((Path(src).name, Path(dst).name))
        if len(renames) == 2:  # old aside worked; new into place fails
            raise OSError(errno.EIO, "I/O error")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(LstmcError, match="-o .*build: cannot write the project: I/O error"):
        project_dir.write_project(out, fill_with({"b.cpp": "new"}))
    assert renames[0][0] == "build" and ".lstmc-old-" in renames[0][1]
    assert snapshot(out) == before
    assert os.listdir(tmp_path) == ["build"]


def test_old_file_changed_during_the_compile_is_kept(tmp_path):
    out = tmp_path / "build"
    project_dir.write_project(out, fill_with({"a.cpp": "old", "b.cpp": "old"}))

    def fill(tmp):  # the user edits a.cpp after the check, while lstmc writes the new project
        (out / "a.cpp").write_text("edited meanwhile")
        (tmp / "a.cpp").write_text("new")

    warning = project_dir.write_project(out, fill)
    assert warning and "a.cpp" in warning
    kept = [p for p in tmp_path.iterdir() if ".lstmc-old-" in p.name]
    assert len(kept) == 1 and os.listdir(kept[0]) == ["a.cpp"]
    assert (kept[0] / "a.cpp").read_text() == "edited meanwhile"
    assert (out / "a.cpp").read_text() == "new"


def test_missing_parents_only_for_a_successful_compile(tmp_path):
    proc = lstmc("compile", MODEL, "-o", tmp_path / "a" / "b" / "build", "--pe", "3")
    assert proc.returncode == 1 and "PE=3" in proc.stderr
    assert os.listdir(tmp_path) == []

    def fill(tmp):
        (tmp / "k.cpp").write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(LstmcError):
        project_dir.write_project(tmp_path / "a" / "b" / "build", fill)
    assert os.listdir(tmp_path) == []
    project_dir.write_project(tmp_path / "a" / "b" / "build", fill_with({"k.cpp": "x"}))
    assert (tmp_path / "a" / "b" / "build" / "k.cpp").read_text() == "x"


def test_a_file_in_the_way_is_refused(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(LstmcError, match="f.txt exists and is not a directory"):
        project_dir.check_target(tmp_path / "f.txt" / "build")
    with pytest.raises(LstmcError, match="exists and is not a directory"):
        project_dir.check_target(tmp_path / "f.txt")


# ------------------------------------------------------------------------------------------------ signals
SLOW_WRITE = """
import sys, time
from lstmc import cli
from lstmc.hls import project
real = project.write_codes
def slow(path, *args, **kwargs):
    real(path, *args, **kwargs)
    print("WRITING", flush=True)
    time.sleep(120)
project.write_codes = slow
sys.exit(cli.main(sys.argv[1:]))
"""

SLOW_COMPILE = """
import sys, time
from lstmc import cli, interpreter
def slow(*args, **kwargs):
    print("COMPILING", flush=True)
    time.sleep(120)
interpreter.run_function = slow
sys.exit(cli.main(sys.argv[1:]))
"""


def _interrupt(script: str, ready: str, sig: int, *args) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = proc.stdout.readline()
        assert line.strip() == ready, (line, proc.stderr.read() if proc.poll() is not None else "")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_while_writing_leaves_no_temp_dir(earlier, sig):
    before = snapshot(earlier)
    proc = _interrupt(SLOW_WRITE, "WRITING", sig, "compile", MODEL, "-o", earlier, "--clock-ns", "4")
    assert proc.returncode == 130, proc.stderr
    assert "lstmc: interrupted" in proc.stderr and "Traceback" not in proc.stderr
    assert os.listdir(earlier.parent) == ["build"]
    assert snapshot(earlier) == before


def test_sigterm_before_writing_creates_nothing(tmp_path):
    proc = _interrupt(SLOW_COMPILE, "COMPILING", signal.SIGTERM, "compile", MODEL, "-o", tmp_path / "new" / "build")
    assert proc.returncode == -signal.SIGTERM
    assert os.listdir(tmp_path) == []


def test_signal_guard_defers_in_critical_sections_and_restores_handlers():
    previous = signal.getsignal(signal.SIGTERM)
    assert previous is signal.SIG_DFL
    reached = []
    with project_dir.SignalGuard() as guard:
        with pytest.raises(project_dir.Terminated):
            with guard.critical():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                reached.append("end of critical section")
        with pytest.raises(project_dir.Terminated):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
            reached.append("not reached")
    assert reached == ["end of critical section"]
    assert signal.getsignal(signal.SIGTERM) is previous
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ------------------------------------------------------------------------------------------------ csim cache
FAKE_CXX = """#!/bin/sh
# a stand-in compiler: --version prints VERSION; otherwise writes a shell-script "binary" to the -o argument
if [ "$1" = "--version" ]; then echo "fakecxx VERSION"; exit 0; fi
out=""; prev=""
for a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done
printf '#!/bin/sh\\necho built-by-VERSION\\n' > "$out"
chmod 755 "$out"
echo "$@" >> "LOG"
"""


@pytest.fixture
def cache_env(tmp_path, monkeypatch):
    for var in ("LSTMC_CACHE_DIR", "XDG_CACHE_HOME", "CXX"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    monkeypatch.setattr(csim, "_private_dir", None)
    monkeypatch.setattr(csim, "_warned", set())
    return tmp_path


def fake_cxx(directory: Path, version: str) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "log.txt"
    cxx = directory / "c++"
    cxx.write_text(FAKE_CXX.replace("VERSION", version).replace('"LOG"', f'"{log}"'))
    cxx.chmod(0o755)
    return cxx, log


def sources(directory: Path, body: str = "7") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "k.h").write_text("int k();\n")
    (directory / "k.cpp").write_text(f'#include "k.h"\nint k() {{ return {body}; }}\n')
    (directory / "k_tb.cpp").write_text('#include <cstdio>\n#include "k.h"\nint main() { printf("%d\\n", k()); }\n')
    return directory


def builds(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_cache_dir_is_per_user_and_private(cache_env, monkeypatch):
    d = csim.resolve_cache_dir()
    assert d == cache_env / "home" / ".cache" / "lstmc" / "csim"
    for path in (d, d.parent):
        st = path.stat()
        assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.getuid()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_env / "xdg"))
    assert csim.resolve_cache_dir() == cache_env / "xdg" / "lstmc" / "csim"
    monkeypatch.setenv("LSTMC_CACHE_DIR", str(cache_env / "mine"))
    assert csim.resolve_cache_dir() == cache_env / "mine" / "csim"
    assert stat.S_IMODE((cache_env / "mine" / "csim").stat().st_mode) == 0o700


def _make_group_writable(p: Path) -> None:
    p.chmod(0o777)


def _make_foreign(p: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to make a directory owned by another user")
    os.chown(p, 65534, 65534)


def _make_symlink(p: Path) -> None:
    real = p.with_name("elsewhere")
    real.mkdir(mode=0o700)
    p.rmdir()
    p.symlink_to(real)


@pytest.mark.parametrize(
    "spoil", [_make_group_writable, _make_foreign, _make_symlink], ids=["world-writable", "other-owner", "symlink"]
)
def test_untrusted_cache_dir_is_not_used(cache_env, monkeypatch, capsys, spoil):
    shared = cache_env / "shared" / "csim"
    shared.mkdir(parents=True, mode=0o700)
    spoil(shared)
    monkeypatch.setenv("LSTMC_CACHE_DIR", str(cache_env / "shared"))
    d = csim.resolve_cache_dir()
    assert d != shared and csim.untrusted_reason(d) is None
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert "not using the C-simulation cache" in capsys.readouterr().err


def test_unwritable_home_falls_back_to_a_private_dir(cache_env, monkeypatch):
    (cache_env / "not-a-dir").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_env / "not-a-dir"))
    d = csim.resolve_cache_dir()
    assert d.is_dir() and csim.untrusted_reason(d) is None
    assert csim.resolve_cache_dir() == d  # one private directory per process


def test_cache_hit_and_key_covers_sources_compiler_flags_and_headers(cache_env, monkeypatch):
    from lstmc.hls.project import ap_types_dir

    cxx1, log1 = fake_cxx(cache_env / "cxx1", "1.0")
    cxx2, log2 = fake_cxx(cache_env / "cxx2", "2.0")
    src = sources(cache_env / "src")
    monkeypatch.setenv("CXX", str(cxx1))
    first = csim.compile_csim(src, "k")
    assert csim.compile_csim(src, "k") == first and builds(log1) == 1  # hit
    # the flags stay today's: -std=c++14 -O1 -w -I<ap_types> -I<src> kernel testbench -o out
    argv = log1.read_text().split()
    assert argv[:5] == ["-std=c++14", "-O1", "-w", f"-I{ap_types_dir()}", f"-I{src}"]
    assert argv[5:7] == [str(src / "k.cpp"), str(src / "k_tb.cpp")]

    assert csim.compile_csim(src, "k", flags=("-std=c++14", "-O2", "-w")) != first
    monkeypatch.setenv("CXX", str(cxx2))
    assert csim.compile_csim(src, "k") != first and builds(log2) == 1
    monkeypatch.setenv("CXX", str(cxx1))
    assert csim.compile_csim(sources(cache_env / "src2", body="8"), "k") != first
    assert builds(log1) == 3

    headers = [cache_env / "hA", cache_env / "hB"]
    for h, text in zip(headers, ["a", "b"]):
        h.mkdir()
        (h / "ap_int.h").write_text(text)
    keys = {csim.cache_key([src / "k.cpp"], str(cxx1), csim.DEFAULT_FLAGS, h) for h in headers}
    assert len(keys) == 2


@pytest.mark.parametrize("tamper", ["overwrite", "symlink", "no-record", "forged-record", "group-writable"])
def test_tampered_binary_is_rebuilt_never_run(cache_env, monkeypatch, tamper):
    cxx, log = fake_cxx(cache_env / "cxx", "1.0")
    monkeypatch.setenv("CXX", str(cxx))
    src = sources(cache_env / "src")
    binary = csim.compile_csim(src, "k")
    record = binary.with_name(binary.name + ".sha256")
    pwned = cache_env / "PWNED"
    evil = f"#!/bin/sh\ntouch {pwned}\n"
    if tamper == "overwrite":
        binary.write_text(evil)
    elif tamper == "symlink":
        (cache_env / "evil.sh").write_text(evil)
        (cache_env / "evil.sh").chmod(0o755)
        binary.unlink()
        binary.symlink_to(cache_env / "evil.sh")
    elif tamper == "no-record":
        record.unlink()
        binary.write_text(evil)
    elif tamper == "forged-record":
        import hashlib

        binary.write_text(evil)
        record.write_text(hashlib.sha256(b"something else").hexdigest() + "\n")
    elif tamper == "group-writable":
        binary.chmod(0o777)
    again = csim.compile_csim(src, "k")
    assert again == binary and builds(log) == 2
    assert not again.is_symlink() and "built-by-1.0" in again.read_text()
    assert subprocess.run([str(again)], capture_output=True, text=True).stdout == "built-by-1.0\n"
    assert not pwned.exists()
    assert sorted(p.name for p in binary.parent.iterdir()) == [binary.name, record.name]  # no temporaries


@needs_cxx
def test_real_gxx_build_is_cached_and_a_planted_script_is_replaced(cache_env, monkeypatch):
    monkeypatch.setenv("CXX", shutil.which("g++"))
    src = sources(cache_env / "src")
    binary = csim.compile_csim(src, "k")
    assert subprocess.run([str(binary)], capture_output=True, text=True).stdout == "7\n"
    mtime = binary.stat().st_mtime_ns
    assert csim.compile_csim(src, "k") == binary and binary.stat().st_mtime_ns == mtime
    binary.write_text(f"#!/bin/sh\ntouch {cache_env / 'PWNED'}\n")
    again = csim.compile_csim(src, "k")
    assert again.read_bytes()[:4] == b"\x7fELF"
    assert subprocess.run([str(again)], capture_output=True, text=True).stdout == "7\n"
    assert not (cache_env / "PWNED").exists()


# ------------------------------------------------------------------------------------------------ CLI files
@pytest.fixture
def inputs_npz(tmp_path) -> Path:
    data = np.load(MODEL.with_suffix(".npz"))
    path = tmp_path / "in.npz"
    np.savez(path, X=data["X"][:2])
    return path


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["import", str(MODEL), "-o", "{dir}"], "-o {dir}: is a directory"),
        (["import", str(MODEL), "-o", "{dir}/missing/dir/x"], "directory {dir}/missing/dir does not exist"),
        (
            ["run", str(MODEL), "--inputs", "{npz}", "--stage", "qrnn", "--output", "{dir}"],
            "--output {dir}: is a directory",
        ),
        (["run", str(MODEL), "--inputs", "{npz}", "--stage", "qrnn", "--output", "{dir}/no/x.npz"], "does not exist"),
    ],
    ids=["import-dir", "import-missing", "run-dir", "run-missing"],
)
def test_output_file_errors_are_one_line(tmp_path, inputs_npz, capsys, argv, fragment):
    out = tmp_path / "out"
    out.mkdir()
    argv = [a.format(dir=out, npz=inputs_npz) for a in argv]
    assert cli.main(argv) == 1
    assert_one_line_error(capsys.readouterr().err, fragment.format(dir=out))
    assert os.listdir(out) == [] and sorted(os.listdir(tmp_path)) == ["in.npz", "out"]


@pytest.mark.parametrize(
    "exc", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()], ids=["disk-full", "interrupt"]
)
def test_failed_write_removes_its_temporary(tmp_path, monkeypatch, exc):
    def half_then_fail(f, **arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise exc

    monkeypatch.setattr(np, "savez", half_then_fail)
    target = tmp_path / "out.npz"
    with pytest.raises(LstmcError if isinstance(exc, OSError) else KeyboardInterrupt) as info:
        cli.save_outputs(str(target), {"Y": np.zeros(3)})
    if isinstance(exc, OSError):
        assert str(info.value) == f"--output {target}: cannot write it: No space left on device"
    assert os.listdir(tmp_path) == []


def test_text_output_replaces_atomically_with_normal_permissions(tmp_path):
    target = tmp_path / "ir.mlir"
    cli._write_text(str(target), "módulo\n")
    assert target.read_text(encoding="utf-8") == "módulo\n"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    cli._write_text(str(target), "second\n")
    assert target.read_text() == "second\n" and os.listdir(tmp_path) == ["ir.mlir"]


def test_output_to_a_device_writes_into_it_and_keeps_it(tmp_path):
    """`-o /dev/null` is a redirection, not a file to replace: renaming over it (as root) turned the machine's
    /dev/null into a regular file."""
    import stat as stat_

    from lstmc.cli import main

    before = os.stat("/dev/null")
    assert main(["import", str(MODEL), "-o", "/dev/null"]) == 0
    after = os.stat("/dev/null")
    assert stat_.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    import threading

    received = []
    reader = threading.Thread(target=lambda: received.append(open(fifo, "rb").read()))
    reader.start()
    assert main(["import", str(MODEL), "-o", str(fifo)]) == 0
    reader.join(20)
    assert received and received[0].startswith(b"builtin.module") and stat_.S_ISFIFO(os.stat(fifo).st_mode)


def test_output_through_a_symlink_replaces_the_target_not_the_link(tmp_path):
    from lstmc.cli import main

    target = tmp_path / "real.mlir"
    target.write_text("old")
    link = tmp_path / "link.mlir"
    link.symlink_to(target)
    assert main(["import", str(MODEL), "-o", str(link)]) == 0
    assert link.is_symlink() and target.read_text().startswith("builtin.module")
