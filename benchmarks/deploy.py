"""Deployment costs for bench.py: compile, cache, load and first call.

Every step runs in a fresh process (`deploy.py --child JSON`), so nothing is
warm that a new server process would not have warm: no imported compiler, no
in-memory caches, for torch.compile a fresh TORCHINDUCTOR_CACHE_DIR. The
child times the step itself (imports excluded, and reported apart where they
are part of the deal, as dqmlir's runtime import); the parent also records
the whole process's wall time. One thread everywhere, first calls at 1×128.

  dqmlir      cold compile (cache=False) with compiled.timings' stages;
              compile into an empty DQMLIR_CACHE_DIR (stores the entry),
              then the same compile in a new process (a cache hit);
              dqmlir.load of compiled.save's directory, its size
  ORT int8    InferenceSession from the quantize_dynamic'd .onnx
  OpenVINO    read_model + compile_model of the saved IR (int8 weights with
              dynamic quantization; NNCF static int8)
  torch.compile  first call (the compile) of the fp32 and torchao int8
              models, with an empty and then with the populated inductor cache
A step that fails is a row with "n/a" and the reason.
"""
from __future__ import annotations

import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
TIMEOUT = 1800


def _dir_mb(path: pathlib.Path) -> float:
    path = pathlib.Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 2**20


def _inputs(b: int = 1, s: int = 128):
    import torch

    ids = torch.randint(1000, 20000, (b, s), generator=torch.Generator().manual_seed(2))
    return ids, torch.ones_like(ids)


def _calls(fn, n: int = 5) -> tuple:
    """(first call s, median of the next n calls s)."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return first, statistics.median(times)


def child(job: dict) -> dict:
    """One step in this (fresh) process; returns what it measured."""
    kind = job["kind"]
    if kind == "dqmlir_load":  # imports timed: they are what a serving process pays
        t = time.perf_counter()
        import torch
        torch_s = time.perf_counter() - t
        t = time.perf_counter()
        import dqmlir
        import_s = time.perf_counter() - t
        torch.set_num_threads(1)
        t = time.perf_counter()
        compiled = dqmlir.load(job["dir"])
        load_s = time.perf_counter() - t
        ids, mask = _inputs()
        first, steady = _calls(lambda: compiled(ids, attention_mask=mask))
        return {"import_torch_s": torch_s, "import_s": import_s, "s": load_s, "first_call_s": first,
                "steady_s": steady}

    import torch

    torch.set_num_threads(1)
    if kind == "dqmlir_compile":
        import bench
        import dqmlir

        model = bench.load_encoder(job["model"])
        qmodel = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        ids = torch.randint(1000, 20000, (2, 16))  # bench_models' example
        t = time.perf_counter()
        compiled = dqmlir.compile(qmodel, (ids,), {"attention_mask": torch.ones_like(ids)}, threads=1,
                                  cache=job["cache"], verbose=False)
        out = {"s": time.perf_counter() - t, "timings": dict(compiled.timings)}
        if job.get("save"):
            compiled.save(job["save"])
        return out
    if kind == "ort":
        import bench

        t = time.perf_counter()
        sess = bench.ort_session(job["path"], 1)
        s = time.perf_counter() - t
        ids, mask = _inputs()
        feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
        first, steady = _calls(lambda: sess.run(None, feeds))
        return {"s": s, "first_call_s": first, "steady_s": steady}
    if kind == "ov":
        import openvino as ov
        from peers import ov_config

        core = ov.Core()
        t = time.perf_counter()
        m = core.read_model(job["path"])
        read_s = time.perf_counter() - t
        t = time.perf_counter()
        compiled = core.compile_model(m, "CPU", ov_config(job["config"], 1))
        compile_s = time.perf_counter() - t
        req = compiled.create_infer_request()
        ids, mask = _inputs()
        feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
        first, steady = _calls(lambda: req.infer(feeds))
        return {"s": read_s + compile_s, "read_s": read_s, "compile_s": compile_s, "first_call_s": first,
                "steady_s": steady}
    if kind == "torch_compile":
        import torch._inductor.config as inductor_config

        import bench

        model = bench.load_encoder(job["model"])
        if job["variant"] == "torchao":
            from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

            quantize_(model, Int8DynamicActivationInt8WeightConfig())
        inductor_config.freezing = True  # as peers.py
        inductor_config.cpp.threads = 1
        compiled = torch.compile(model)
        ids, mask = _inputs()
        with torch.no_grad():
            first, steady = _calls(lambda: compiled(ids, attention_mask=mask))
        # The compile is the first call: report it as the step, the call's own
        # time being the steady one.
        return {"s": first - steady, "first_call_s": first, "steady_s": steady}
    raise ValueError(f"unknown job {kind}")


def run_child(job: dict, env: dict | None = None) -> dict:
    """job in a new process; {"error": reason} when it fails."""
    t = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, str(HERE / "deploy.py"), "--child", json.dumps(job)],
                           capture_output=True, text=True, timeout=TIMEOUT,
                           env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {TIMEOUT} s"}
    wall = time.perf_counter() - t
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines or not lines[-1].startswith("{"):
        err = [line for line in p.stderr.strip().splitlines() if line.strip()]
        return {"error": (err[-1] if err else f"exit status {p.returncode}")[:200]}
    return {**json.loads(lines[-1]), "process_s": wall}


def _stages(timings: dict) -> str:
    """compiled.timings' top-level stages, longest first."""
    stages = {k: v for k, v in timings.items() if isinstance(v, float) and "." not in k and k != "total"}
    return ", ".join(f"{k} {v:.1f}" for k, v in sorted(stages.items(), key=lambda kv: -kv[1]) if v >= 0.05)


def bench_deploy(names: list, tmp: pathlib.Path) -> list:
    import torch

    import bench
    from peers import Peers, reason

    rows = []

    def add(name, system, step, res, size=None, detail=""):
        row = {"model": name, "system": system, "step": step, **res, "size_mb": size, "detail": detail}
        rows.append(row)
        text = (f"n/a ({res['error']})" if "error" in res else
                f"{res['s']:.2f} s" + (f", first call {res['first_call_s'] * 1e3:.1f} ms" if "first_call_s" in res
                                       else ""))
        print(f"  deploy {name}: {system} {step}: {text}" + (f", {size:.1f} MB" if size else "")
              + (f" ({detail})" if detail and "error" not in res else ""), flush=True)

    for name in names:
        tag = name.split()[0].replace("/", "_")
        saved = tmp / f"{tag}.dqmlir"
        res = run_child({"kind": "dqmlir_compile", "model": name, "cache": False, "save": str(saved)},
                        {"DQMLIR_CACHE_DIR": ""})
        add(name, "dqmlir", "cold compile (cache=False)", res, detail=_stages(res.get("timings", {})))
        cache = {"DQMLIR_CACHE_DIR": str(tmp / f"{tag}.cache")}
        res = run_child({"kind": "dqmlir_compile", "model": name, "cache": True}, cache)
        add(name, "dqmlir", "compile into an empty cache", res, detail=_stages(res.get("timings", {})))
        res = run_child({"kind": "dqmlir_compile", "model": name, "cache": True}, cache)
        add(name, "dqmlir", "cached compile (new process)", res, detail=_stages(res.get("timings", {})))
        size = _dir_mb(saved) if saved.exists() else None
        res = run_child({"kind": "dqmlir_load", "dir": str(saved)})
        add(name, "dqmlir", "load saved dir", res, size,
            f"import dqmlir {res['import_s']:.2f} s after torch {res['import_torch_s']:.2f} s"
            if "import_s" in res else "")

        model = bench.load_encoder(name)
        ids = torch.randint(1000, 20000, (2, 16))
        mask = torch.ones_like(ids)
        try:
            onnx_path = bench.ort_quantized(bench.Wrapped(model), (ids, mask), ["input_ids", "attention_mask"],
                                            {"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}},
                                            tmp, f"{tag}.deploy")
            res = run_child({"kind": "ort", "path": onnx_path})
            add(name, "ORT int8", "InferenceSession", res, _dir_mb(pathlib.Path(onnx_path)))
        except Exception as e:  # noqa: BLE001
            add(name, "ORT int8", "InferenceSession", {"error": reason(e)})

        for key, system in (("ov_int8w_dq", "OV int8 w + dyn. act."), ("ov_int8_static", "OV NNCF static int8")):
            step = "read_model + compile_model (IR)"
            try:
                import openvino as ov

                peers = Peers(bench.Wrapped(model), model, (ids, mask), keys=[key])
                if key in peers.na:
                    raise RuntimeError(peers.na[key])
                xml = tmp / f"{tag}.{key}.xml"
                ov.save_model(peers.ov_models[key], str(xml), compress_to_fp16=False)
                res = run_child({"kind": "ov", "path": str(xml), "config": key})
                add(name, system, step, res, _dir_mb(xml) + _dir_mb(xml.with_suffix(".bin")),
                    f"compile_model {res['compile_s']:.2f} s" if "compile_s" in res else "")
            except Exception as e:  # noqa: BLE001
                add(name, system, step, {"error": reason(e)})
        del model

        for variant, system in (("fp32", "torch.compile fp32"), ("torchao", "torch.compile torchao int8")):
            inductor = {"TORCHINDUCTOR_CACHE_DIR": str(tmp / f"{tag}.inductor.{variant}")}
            job = {"kind": "torch_compile", "model": name, "variant": variant}
            add(name, system, "first call (compile), empty inductor cache", run_child(job, inductor))
            add(name, system, "first call, inductor cache populated", run_child(job, inductor))
    return rows


def markdown(rows: list) -> str:
    lines = ["| model | system | step (new process, 1 thread) | seconds | first call ms (1×128) | then ms | "
             "size MB | process s | detail |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['system']} | {r['step']} | n/a | | | | | {r['error']} |")
            continue
        first = f"{r['first_call_s'] * 1e3:.1f}" if "first_call_s" in r else ""
        steady = f"{r['steady_s'] * 1e3:.1f}" if "steady_s" in r else ""
        size = f"{r['size_mb']:.1f}" if r.get("size_mb") else ""
        lines.append(f"| {r['model']} | {r['system']} | {r['step']} | {r['s']:.2f} | {first} | {steady} | {size} | "
                     f"{r['process_s']:.1f} | {r['detail']} |")
    lines += ["", "seconds: the step alone, timed inside the new process (imports and model loading "
              "excluded); for torch.compile the first call minus a steady call. process s: the whole "
              "process (Python start, imports, loading the model, the step, 6 calls). dqmlir compile "
              "detail: compiled.timings' stages in seconds."]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as bench.py
        import warnings

        warnings.filterwarnings("ignore")
        sys.path.insert(0, str(HERE))
        print(json.dumps(child(json.loads(sys.argv[2]))))
        sys.exit(0)
    sys.exit("usage: deploy.py --child JSON (bench.py runs this)")
