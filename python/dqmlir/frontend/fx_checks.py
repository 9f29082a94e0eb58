"""Checks of the exported FX graph for patterns torch-mlir lowers wrongly."""
from __future__ import annotations

import torch
from torch.fx.experimental.symbolic_shapes import statically_known_true

from ..errors import UnsupportedModuleError

aten = torch.ops.aten
VIEWS = (aten.view.default, aten._unsafe_view.default, aten.reshape.default)


class MergedDynamicDims(UnsupportedModuleError):
    """A view merges dynamic dims: `symbols` (their size symbols, in order),
    `what` (the view and where); export_model fills `locations`."""

    def __init__(self, message: str, symbols: list, what: str):
        super().__init__(message)
        self.symbols, self.what, self.locations = symbols, what, {}


def same_sizes(a, b) -> bool:
    """Sizes (ints or symbols) known to be equal, dim by dim."""
    return len(a) == len(b) and all(statically_known_true(x == y) for x, y in zip(a, b))


def merged_dynamic_dims(src, dst) -> list:
    """The dynamic sizes of `src` that a view to `dst` merges into one dim
    (sizes compared from both ends; an empty list if no dim merges two)."""
    src, dst = list(src), list(dst)
    lead = 0
    while lead < min(len(src), len(dst)) and src[lead] == dst[lead]:
        lead += 1
    trail = 0
    while (trail < min(len(src), len(dst)) - lead
           and src[len(src) - 1 - trail] == dst[len(dst) - 1 - trail]):
        trail += 1
    middle = src[lead:len(src) - trail]
    merged = [s for s in middle if isinstance(s, torch.SymInt) and not s.node.is_constant()]
    return merged if len(middle) > len(dst) - lead - trail and len(merged) >= 2 else []


def check_dynamic_collapses(gm: torch.fx.GraphModule, node_paths: dict) -> None:
    """torch-mlir lowers a view that merges two dynamic dims (e.g. x[B, S, K] ->
    [-1, K]) by assuming the second is 1: an unchecked cast, so wrong results or
    a crash at run time. Linear layers avoid it (fp32_linear.py); anything else
    that still does it is refused here."""
    for node in gm.graph.nodes:
        if node.op != "call_function" or node.target not in VIEWS:
            continue
        src, dst = getattr(node.args[0], "meta", {}).get("val"), node.meta.get("val")
        if not isinstance(src, torch.Tensor) or not isinstance(dst, torch.Tensor):
            continue
        merged = merged_dynamic_dims(src.shape, dst.shape)
        if merged:
            what = (f"{node.target} of a {list(src.shape)} tensor to {list(dst.shape)} in module "
                    f"'{node_paths.get(node.name) or '<root>'}' (fx node {node.name}) merges the "
                    f"dynamic dims {', '.join(map(str, merged))}")
            symbols = []
            for s in merged:
                for sym in sorted(s.node.expr.free_symbols, key=str):
                    if str(sym) not in symbols:
                        symbols.append(str(sym))
            raise MergedDynamicDims(
                f"{what}, which torch-mlir lowers wrongly; compile with dynamic=False or keep "
                f"one of them static", symbols, what)


def check_data_dependent(gm: torch.fx.GraphModule, node_paths: dict) -> None:
    """Ops whose output shape depends on tensor values (boolean-mask indexing,
    nonzero, masked_select, unique, .item() used as a size) get "unbacked"
    symbolic sizes in the exported program. torch-mlir's pipeline does not
    terminate on them (its memory grows until the process is killed), and the
    compiled code could not size its buffers: refuse them here, naming the op."""
    from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        val = node.meta.get("val")
        if val is None or not free_unbacked_symbols(val):
            continue
        raise UnsupportedModuleError(
            f"{node.target} in module '{node_paths.get(node.name) or '<root>'}' (fx node "
            f"{node.name}) gives a result whose shape depends on the values of its input "
            "(boolean-mask indexing, nonzero, masked_select, .item() as a size); dqmlir "
            "compiles programs whose shapes follow from the input shapes only")
