"""cxx_syntax.py FILE.cpp: g++ -fsyntax-only -std=c++14 with hls4ml's ap_types headers (ap_int.h, hls_stream.h)
on the include path; exits with g++'s status (lit's internal shell cannot hold the include dir in a variable)."""

import os
import shutil
import subprocess
import sys

from lstmc.hls.project import ap_types_dir

cxx = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")
if cxx is None:
    sys.exit("cxx_syntax.py: no C++ compiler on PATH")
cmd = [
    cxx,
    "-fsyntax-only",
    "-std=c++14",
    "-Wall",
    "-Wno-unused-variable",
    "-Wno-unused-but-set-variable",
    "-Werror=return-type",
    f"-I{ap_types_dir()}",
    *sys.argv[1:],
]
sys.exit(subprocess.run(cmd).returncode)
