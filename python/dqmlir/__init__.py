"""dqmlir: an MLIR compiler for PyTorch dynamically quantized models."""
from .compiler import CompiledModule, compile, compile_mlir
from .errors import CompileError, ModelFormatError, UnsupportedModuleError
from .runtime import buffer_cache_stats, trim_buffer_cache
from .threads import get_num_threads, set_num_threads

__all__ = ["compile", "compile_mlir", "CompiledModule", "CompileError", "ModelFormatError",
           "UnsupportedModuleError", "get_num_threads", "set_num_threads", "buffer_cache_stats",
           "trim_buffer_cache"]
