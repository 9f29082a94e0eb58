"""Optional whole-model peers for bench.py: OpenVINO (+ NNCF) and torch.compile.

Each peer is built once per model and compiled per thread count. A peer that
is not installed or fails to build or run is left out of the timing and
reported as "n/a" with the reason: the benchmark still runs with what is
there (openvino and nncf come from benchmarks/requirements.txt, which
`make check` does not install).

OpenVINO variants (CPU plugin, one stream, INFERENCE_NUM_THREADS = the row's
threads, no pinning as neither dqmlir nor PyTorch pin):
  ov_fp32         INFERENCE_PRECISION_HINT f32
  ov_default      the plugin's default precision (bf16 where the CPU has AMX)
  ov_int8w        nncf.compress_weights (int8 per-channel weights, fp32
                  activations), f32 hint, dynamic quantization off
  ov_int8w_dq     the same model with dynamic activation quantization: it
                  only takes effect with the f32 hint and
                  DYNAMIC_QUANTIZATION_GROUP_SIZE (32 here)
  ov_int8_static  nncf.quantize (static int8 activations, calibrated on a
                  few random token batches), default precision
torch.compile (inductor, freezing on: PyTorch's recommended setting for CPU
inference; weights are constants, so it can prepack them):
  tc_fp32         the fp32 model
  tc_torchao      torchao Int8DynamicActivationInt8WeightConfig
"""
from __future__ import annotations

import copy
import sys

import numpy as np
import torch

# key -> (label, int8?) in table order; the first three keys are bench.py's own.
PEERS = {
    "pytorch_int8": ("PyTorch int8", True),
    "ort_int8": ("ORT int8", True),
    "ov_int8w": ("OV int8 weights", True),
    "ov_int8w_dq": ("OV int8 w + dyn. act.", True),
    "ov_int8_static": ("OV NNCF static int8", True),
    "tc_torchao": ("torch.compile torchao int8", True),
    "pytorch_fp32": ("PyTorch fp32", False),
    "ov_fp32": ("OV fp32", False),
    "ov_default": ("OV default", False),
    "tc_fp32": ("torch.compile fp32", False),
}

OV_GROUP_SIZE = 32
OV_CONFIGS = {
    "ov_fp32": {"INFERENCE_PRECISION_HINT": "f32"},
    "ov_default": {},
    "ov_int8w": {"INFERENCE_PRECISION_HINT": "f32", "DYNAMIC_QUANTIZATION_GROUP_SIZE": "0"},
    "ov_int8w_dq": {"INFERENCE_PRECISION_HINT": "f32", "DYNAMIC_QUANTIZATION_GROUP_SIZE": str(OV_GROUP_SIZE)},
    "ov_int8_static": {},
}


def reason(e: BaseException) -> str:
    """One short line for the table's n/a note."""
    lines = [line for line in str(e).splitlines() if line.strip()]
    return f"{type(e).__name__}: {lines[0][:160] if lines else ''}".rstrip(": ")


def ov_config(key: str, threads: int) -> dict:
    return {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
            "ENABLE_CPU_PINNING": False, **OV_CONFIGS[key]}


def calibration_set(n: int = 8, seq: int = 128) -> list:
    """Random token batches for NNCF's static quantization (the random-weight
    BERT has no meaningful data anyway; MiniLM's ranges from random ids are
    what a user without a data set would get)."""
    g = torch.Generator().manual_seed(1)
    return [{"input_ids": torch.randint(1000, 20000, (1, seq), generator=g).numpy(),
             "attention_mask": np.ones((1, seq), np.int64)} for _ in range(n)]


class Peers:
    """The optional peers of one model; `na` maps a key to why it is missing."""

    def __init__(self, wrapped: torch.nn.Module, model: torch.nn.Module, example: tuple, keys=None):
        self.na: dict = {}
        self.ov_models: dict = {}
        self.default_precision = None  # what OpenVINO picks without a hint
        self.keys = [k for k in PEERS if k.startswith(("ov_", "tc_"))] if keys is None else keys
        self._model = model
        self._torchao = None
        self._build_ov(wrapped, example)
        if "tc_torchao" in self.keys:
            self._try("tc_torchao", self._build_torchao)

    def _try(self, key, fn):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001  (any failure: n/a with the reason)
            self.na[key] = reason(e)
            print(f"  {key}: n/a ({self.na[key]})", file=sys.stderr, flush=True)
            return None

    def _build_ov(self, wrapped, example) -> None:
        keys = [k for k in self.keys if k.startswith("ov_")]
        if not keys:
            return
        try:
            import openvino as ov

            self.core = ov.Core()
            base = ov.convert_model(wrapped, example_input=example)  # inputs dynamic [?, ?]
        except Exception as e:  # noqa: BLE001
            for k in keys:
                self.na[k] = reason(e)
            return

        def compressed():
            import nncf

            return nncf.compress_weights(base.clone())  # int8_asym, per output channel

        def static():
            import nncf

            return nncf.quantize(base.clone(), nncf.Dataset(calibration_set()),
                                 model_type=nncf.ModelType.TRANSFORMER, subset_size=8)

        for k in keys:
            if k in ("ov_fp32", "ov_default"):
                self.ov_models[k] = base
            elif k == "ov_int8w_dq" and "ov_int8w" in self.ov_models:
                self.ov_models[k] = self.ov_models["ov_int8w"]
            elif k in ("ov_int8w", "ov_int8w_dq"):
                m = self._try(k, compressed)
                if m is not None:
                    self.ov_models[k] = m
                elif k == "ov_int8w" and "ov_int8w_dq" in self.keys:
                    self.na["ov_int8w_dq"] = self.na[k]
            elif k == "ov_int8_static":
                m = self._try(k, static)
                if m is not None:
                    self.ov_models[k] = m

    def _build_torchao(self) -> None:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

        self._torchao = copy.deepcopy(self._model)
        quantize_(self._torchao, Int8DynamicActivationInt8WeightConfig())

    def fns(self, threads: int, feeds_fn, call_fn) -> dict:
        """Callables per available peer for `threads`: feeds_fn() gives the
        current numpy feeds (OpenVINO), call_fn(module) calls a torch module
        on the current inputs. torch.compile is reset and recompiled with
        inductor's thread count fixed to `threads` (it bakes the count into
        the generated code)."""
        out = {}
        for k in self.keys:
            if k in self.na:
                continue
            if k in self.ov_models:
                def compile_ov(k=k):
                    compiled = self.core.compile_model(self.ov_models[k], "CPU", ov_config(k, threads))
                    if k == "ov_default":
                        precision = compiled.get_property("INFERENCE_PRECISION_HINT")
                        self.default_precision = getattr(precision, "get_type_name", precision.__str__)()
                    return compiled.create_infer_request()

                req = self._try(k, compile_ov)
                if req is not None:
                    out[k] = lambda req=req: req.infer(feeds_fn(), share_inputs=True)
        tc = [k for k in ("tc_fp32", "tc_torchao") if k in self.keys and k not in self.na]
        if tc:
            try:
                import torch._dynamo
                import torch._inductor.config as inductor_config

                torch._dynamo.reset()
                inductor_config.freezing = True
                inductor_config.cpp.threads = threads
            except Exception as e:  # noqa: BLE001
                for k in tc:
                    self.na[k] = reason(e)
                tc = []
            for k in tc:
                module = torch.compile(self._model if k == "tc_fp32" else self._torchao)
                out[k] = lambda module=module: call_fn(module)
        return out

    def guard(self, fns: dict) -> dict:
        """fns with each optional peer's first call tried (that is where
        torch.compile compiles): a peer that raises is dropped as n/a."""
        out = {}
        for k, f in fns.items():
            if k in PEERS and (k.startswith(("ov_", "tc_"))):
                try:
                    with torch.no_grad():
                        f()
                except Exception as e:  # noqa: BLE001
                    self.na[k] = reason(e)
                    print(f"  {k}: n/a ({self.na[k]})", file=sys.stderr, flush=True)
                    continue
            out[k] = f
        return out
