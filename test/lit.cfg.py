# lit configuration for dqmlir's FileCheck tests (test/ mirrors lib/).
import os

import lit.formats
from lit.llvm import llvm_config

config.name = "dqmlir"
# PyPI lit runs the RUN lines with its internal shell.
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.dqmlir_obj_root, "test")
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "python", "fuzz"]

llvm_config.with_system_environment(["HOME", "TMP", "TEMP"])
llvm_config.use_default_substitutions()
for d in (config.dqmlir_tools_dir, config.llvm_tools_dir, config.mlir_tools_dir):
    llvm_config.with_environment("PATH", d, append_path=True)
llvm_config.add_tool_substitutions(
    ["dq-opt", "dq-compile", "dq-run", "FileCheck", "not", "count", "mlir-translate", "llc",
     "llvm-objdump", "llvm-nm"],
    [config.dqmlir_tools_dir, config.llvm_tools_dir, config.mlir_tools_dir],
)
