//===- RuntimeModule.cpp - dqmlir._runtime: saved models from Python ------===//
//
// The Python face of the C runtime (include/dqmlir/runtime.h): open a model
// directory and call it on torch tensors. It links the runtime library only
// (no MLIR: `dqmlir.load` neither imports MLIR nor torch-mlir).
//
// A call reads each tensor's dtype, shape and data pointer (contiguous
// copies where needed), runs the model without the GIL, and hands each
// output to torch through DLPack with a deleter that returns its buffer to
// the runtime's buffer cache. No copies. Failures come back as (status,
// message) for python/dqmlir/runtime.py to raise as the matching exception.
//
//===----------------------------------------------------------------------===//

#include "dqmlir/runtime.h"
#include "lib/Runtime/AsyncRuntime.h"
#include "lib/Runtime/BufferCache.h"
#include "lib/Runtime/Checksum.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <atomic>
#include <vector>

namespace nb = nanobind;

namespace {
/// torch dtypes by dqmlir_dtype code (set once by runtime.py).
std::vector<nb::object> torchDtypes;

nb::dlpack::dtype dlpackOf(dqmlir_dtype d) {
  switch (d) {
  case DQMLIR_F32: return nb::dtype<float>();
  case DQMLIR_F64: return nb::dtype<double>();
  case DQMLIR_I64: return nb::dtype<int64_t>();
  case DQMLIR_I32: return nb::dtype<int32_t>();
  case DQMLIR_I16: return nb::dtype<int16_t>();
  case DQMLIR_I8: return nb::dtype<int8_t>();
  case DQMLIR_U8: return nb::dtype<uint8_t>();
  case DQMLIR_BOOL: return nb::dtype<bool>();
  // nanobind has no C++ type for these: DLPack codes 2 (float) and 4 (bfloat).
  case DQMLIR_F16: return {uint8_t(nb::dlpack::dtype_code::Float), 16, 1};
  case DQMLIR_BF16: return {uint8_t(nb::dlpack::dtype_code::Bfloat), 16, 1};
  }
  return nb::dtype<float>();
}

class Model {
public:
  Model(dqmlir_model *model, bool threaded) : model(model), threaded(threaded) {
    nb::module_ torch = nb::module_::import_("torch");
    tensorType = torch.attr("Tensor");
    empty = torch.attr("empty");
    fromDLPack = torch.attr("_C").attr("_from_dlpack");
  }
  ~Model() { dqmlir_model_close(model); }

  /// Outputs as a list of tensors, or (status, message) on failure.
  nb::object call(nb::args args) {
    size_t n = args.size();
    // Pool threads asleep since the last call wake while the arguments are
    // read, not when the first parallel region already waits for them.
    if (threaded && lastUsedPool.load(std::memory_order_relaxed))
      mlir::dq::wakeAsyncWorkers();
    std::vector<nb::object> keep; // contiguous copies, alive over the call
    std::vector<int64_t> shapes(n * DQMLIR_MAX_RANK);
    std::vector<dqmlir_tensor> inputs(n);
    for (size_t i = 0; i < n; ++i) {
      nb::handle t = args[i];
      if (!nb::isinstance(t, tensorType))
        return failure(DQMLIR_ERROR_TYPE, i, "must be a Tensor");
      if (!nb::cast<bool>(t.attr("is_cpu")))
        return failure(DQMLIR_ERROR_VALUE, i, "must be a CPU tensor");
      nb::handle dtype = t.attr("dtype");
      int code = -1;
      for (size_t d = 0; d < torchDtypes.size(); ++d)
        if (dtype.is(torchDtypes[d]))
          code = int(d);
      if (code < 0)
        return failure(DQMLIR_ERROR_TYPE, i, "has an unsupported dtype");
      nb::tuple shape = nb::borrow<nb::tuple>(t.attr("shape"));
      if (shape.size() > DQMLIR_MAX_RANK)
        return failure(DQMLIR_ERROR_VALUE, i, "has too many dims");
      int64_t *dims = shapes.data() + i * DQMLIR_MAX_RANK;
      for (size_t d = 0; d < shape.size(); ++d)
        dims[d] = nb::cast<int64_t>(shape[d]);
      if (!nb::cast<bool>(t.attr("is_contiguous")())) {
        keep.push_back(t.attr("contiguous")());
        t = keep.back();
      }
      inputs[i] = {reinterpret_cast<const void *>(
                       nb::cast<uintptr_t>(t.attr("data_ptr")())),
                   dims, int32_t(shape.size()), dqmlir_dtype(code)};
    }
    int numOutputs = dqmlir_model_num_outputs(model);
    std::vector<dqmlir_output> outputs(numOutputs);
    dqmlir_status status;
    {
      nb::gil_scoped_release release;
      uint64_t queued = threaded ? mlir::dq::asyncTasksQueued() : 0;
      status = dqmlir_model_run(model, inputs.data(), int(n), outputs.data(),
                                numOutputs);
      if (threaded)
        lastUsedPool.store(mlir::dq::asyncTasksQueued() != queued,
                           std::memory_order_relaxed);
    }
    if (status != DQMLIR_OK)
      return nb::make_tuple(int(status), std::string(dqmlir_last_error()));
    nb::list result;
    for (dqmlir_output &o : outputs)
      result.append(toTensor(o));
    return result;
  }

  std::vector<nb::tuple> inputs() const {
    std::vector<nb::tuple> out;
    for (int i = 0; i < dqmlir_model_num_inputs(model); ++i) {
      std::vector<int64_t> dims;
      for (int d = 0; d < dqmlir_model_input_rank(model, i); ++d)
        dims.push_back(dqmlir_model_input_dim(model, i, d));
      out.push_back(nb::make_tuple(
          std::string(dqmlir_model_input_name(model, i)),
          std::string(dqmlir_dtype_name(dqmlir_model_input_dtype(model, i))),
          dims));
    }
    return out;
  }

  std::vector<nb::tuple> outputs() const {
    std::vector<nb::tuple> out;
    for (int i = 0; i < dqmlir_model_num_outputs(model); ++i)
      out.push_back(nb::make_tuple(
          std::string(dqmlir_model_output_name(model, i)),
          std::string(dqmlir_dtype_name(dqmlir_model_output_dtype(model, i))),
          dqmlir_model_output_rank(model, i)));
    return out;
  }

  std::string manifest() const { return dqmlir_model_manifest(model); }

private:
  nb::object failure(dqmlir_status status, size_t i, const char *what) {
    return nb::make_tuple(int(status),
                          std::string("argument '") +
                              dqmlir_model_input_name(model, int(i)) + "' " +
                              what);
  }

  /// The output as a tensor that owns its buffer.
  nb::object toTensor(dqmlir_output &o) {
    std::vector<size_t> shape(o.shape, o.shape + o.rank);
    int64_t count = 1;
    for (size_t s : shape)
      count *= int64_t(s);
    if (count == 0 || !o.data) {
      dqmlir_output_free(&o);
      std::vector<int64_t> dims(o.shape, o.shape + o.rank);
      return empty(nb::cast(dims), nb::arg("dtype") = torchDtypes[o.dtype]);
    }
    nb::object owner;
    if (o.owner)
      owner = nb::capsule(o.owner, [](void *p) noexcept { dqmlirBufferFree(p); });
    nb::ndarray<> array(o.data, size_t(o.rank), shape.data(), owner, nullptr,
                        dlpackOf(o.dtype), nb::device::cpu::value);
    return fromDLPack(nb::cast(array, nb::rv_policy::reference));
  }

  dqmlir_model *model;
  bool threaded;
  nb::object tensorType, empty, fromDLPack;
  // A hint: concurrent callers may overwrite each other's.
  std::atomic<bool> lastUsedPool{true};
};

/// (Model or None, status, message).
nb::tuple open(const std::string &dir, bool verify, bool threaded) {
  dqmlir_model *m = nullptr;
  dqmlir_status s;
  {
    // Reading and checking the weights takes a while (0.05-0.4 s for
    // BERT-base); the compile cache opens entries while the caller traces.
    nb::gil_scoped_release release;
    s = dqmlir_model_open(dir.c_str(), verify ? 0u : DQMLIR_OPEN_NO_CHECKSUM,
                          &m);
  }
  if (s != DQMLIR_OK)
    return nb::make_tuple(nb::none(), int(s), std::string(dqmlir_last_error()));
  return nb::make_tuple(nb::cast(new Model(m, threaded), nb::rv_policy::take_ownership),
                        0, std::string());
}
} // namespace

NB_MODULE(_runtime, m) {
  m.doc() = "dqmlir's runtime for saved models (include/dqmlir/runtime.h)";
  nb::class_<Model>(m, "Model")
      .def("__call__", &Model::call)
      .def_prop_ro("inputs", &Model::inputs)
      .def_prop_ro("outputs", &Model::outputs)
      .def_prop_ro("manifest", &Model::manifest);
  m.def("open", &open, nb::arg("dir"), nb::arg("verify") = true,
        nb::arg("threaded") = false,
        "Opens a model directory: (Model or None, status, message).");
  m.def("set_dtypes", [](std::vector<nb::object> dtypes) { torchDtypes = dtypes; },
        "torch dtypes in dqmlir_dtype order.");
  m.def("version", [] { return std::string(dqmlir_runtime_version()); });
  m.def("set_num_threads", [](int n) {
    return nb::make_tuple(int(dqmlir_set_num_threads(n)),
                          std::string(dqmlir_last_error()));
  });
  m.def("crc32c", [](nb::bytes data) {
    return dqmlirCRC32C(0, data.c_str(), data.size());
  });
  m.def("buffer_cache_stats", [] {
    mlir::dq::BufferCacheStats s = mlir::dq::bufferCacheStats();
    nb::dict d;
    d["hits"] = s.hits;
    d["misses"] = s.misses;
    d["cached_bytes"] = s.cachedBytes;
    d["limit_bytes"] = s.limitBytes;
    d["live_bytes"] = s.liveBytes;
    d["peak_live_bytes"] = s.peakLiveBytes;
    return d;
  });
  m.def("profile_read", [] {
    int n = dqmlir_profile_read(nullptr, nullptr, 0);
    std::vector<double> seconds(n);
    std::vector<int64_t> ops(n);
    n = std::min(n, dqmlir_profile_read(seconds.data(), ops.data(), n));
    nb::list out;
    for (int k = 0; k < n; ++k)
      out.append(nb::make_tuple(seconds[k], ops[k]));
    return out;
  });
  m.def("profile_reset", [] { dqmlir_profile_reset(); });
  m.def("buffer_cache_trim", &mlir::dq::bufferCacheTrim);
  m.def("set_buffer_cache_limit", &mlir::dq::setBufferCacheLimit, nb::arg("bytes"));
}
