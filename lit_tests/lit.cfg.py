# lit configuration for lstmc: FileCheck tests of the dialects, passes, frontend and tools.
# Tests call the installed console scripts (lstmc, lstmc-opt) and `filecheck`; never PYTHONPATH tricks.
import os
import shutil
import sys

import lit.formats
from lit.TestingConfig import TestingConfig

config: TestingConfig = globals()["config"]  # lit defines it before it runs this file; this names its type

config.name = "lstmc"
config.test_format = lit.formats.ShTest(execute_external=False)  # lit 23 rejects the external shell
config.suffixes = {".mlir", ".test"}
config.excludes = {"Inputs", "lit.cfg.py"}
config.test_source_root = os.path.dirname(__file__)

config.environment["PATH"] = os.pathsep.join(
    [os.path.dirname(sys.executable), config.environment.get("PATH", os.environ["PATH"])]
)
config.substitutions.append(("%python", sys.executable))
# Custom syntax -> print -> parse -> print, and the generic form -> parse -> print.
config.substitutions.append(("LSTMC_ROUNDTRIP", "lstmc-opt %s | lstmc-opt"))
config.substitutions.append(("LSTMC_GENERIC_ROUNDTRIP", "lstmc-opt %s --print-op-generic | lstmc-opt"))

if shutil.which("g++") or shutil.which("c++"):
    config.available_features.add("cxx")
