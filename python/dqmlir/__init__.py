"""dqmlir: an MLIR compiler for PyTorch dynamically quantized models.

`dqmlir.compile(model, example_args, ...)` compiles a model into a saved
model library (and opens it); `dqmlir.load(path)` opens one that
`compiled.save(path)` wrote, without compiling and without MLIR.
`dqmlir.generate(compiled, input_ids, max_new_tokens=...)` decodes greedily
with a causal LM compiled with `use_cache=True` (a KV cache kept in place).
`dqmlir.profile(compiled, *args)` shows where a call's time goes (compile
with `profile=True`).
"""
from ._version import __version__
from .compiled import CompiledModule, load
from .compiler import compile, compile_mlir
from .errors import CompileError, ModelFormatError, UnsupportedModuleError
from .generation import CompiledDecoder, generate
from .profile import Profile, profile
from .runtime import buffer_cache_stats, trim_buffer_cache
from .threads import get_num_threads, set_num_threads

__all__ = ["compile", "compile_mlir", "load", "generate", "CompiledModule", "CompiledDecoder",
           "CompileError",
           "ModelFormatError", "UnsupportedModuleError", "get_num_threads", "set_num_threads",
           "buffer_cache_stats", "trim_buffer_cache", "profile", "Profile", "__version__"]
