"""Configures the CMake build against the LLVM/MLIR wheels in this venv.

Also drops a .pth file into the venv so that `import dqmlir` works from any
directory (the package stays in python/, the extension is built beside it).
"""
import os
import pathlib
import subprocess
import sys
import sysconfig

import mlir
import nanobind

root = pathlib.Path(__file__).resolve().parent.parent
build = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "build").resolve()
site = pathlib.Path(sysconfig.get_paths()["purelib"])
mlir_pkg = pathlib.Path(list(mlir.__path__)[0])  # a namespace package
bin_dir = pathlib.Path(sys.executable).parent

# A second checkout (e.g. a git worktree) sets DQMLIR_NO_PTH=1 and uses
# PYTHONPATH=<checkout>/python instead of redirecting the shared venv.
if not os.environ.get("DQMLIR_NO_PTH"):
    (site / "dqmlir.pth").write_text(str(root / "python") + "\n")

cmd = [
    str(bin_dir / "cmake"), "-G", "Ninja", "-S", str(root), "-B", str(build),
    f"-DCMAKE_MAKE_PROGRAM={bin_dir / 'ninja'}",
    "-DCMAKE_BUILD_TYPE=Release",
    f"-DMLIR_DIR={mlir_pkg / 'lib' / 'cmake' / 'mlir'}",
    f"-DLLVM_DIR={site / 'llvm' / 'lib' / 'cmake' / 'llvm'}",
    f"-DPython_EXECUTABLE={sys.executable}",
    f"-Dnanobind_DIR={nanobind.cmake_dir()}",
    f"-DDQMLIR_MLIR_PYTHON_PACKAGE={mlir_pkg}",
    f"-DDQMLIR_LLVM_TOOLS_DIR={site / 'llvm' / 'bin'}",
    f"-DDQMLIR_MLIR_TOOLS_DIR={mlir_pkg / 'bin'}",
]
if os.environ.get("DQMLIR_CMAKE_ARGS"):
    cmd += os.environ["DQMLIR_CMAKE_ARGS"].split()
sys.exit(subprocess.call(cmd))
