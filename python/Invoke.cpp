//===- Invoke.cpp - call a compiled function on torch tensors -------------===//
//
// The per-call path of dqmlir.runtime.JitFunction. Written in Python it cost
// 20 us per call at batch 1 and 60-80 us after a large AMX call (the core runs
// slower right after heavy AMX/AVX-512 work, and Python runs many instructions
// there): more than the kernel of a small linear. Here a call reads each
// tensor's shape, dtype and data pointer, builds the memref descriptors and
// the packed argument array, calls the `_mlir_` wrapper without the GIL, and
// hands each result buffer to torch through DLPack with a deleter that frees
// it into the buffer cache. No copies.
//
// Any argument that does not fit the signature (count, type, device, dtype,
// rank, a static dim) returns the `mismatch` sentinel instead: Python then
// raises the precise error (runtime.py JitFunction._raise_mismatch).
//
//===----------------------------------------------------------------------===//

#include "python/Invoke.h"
#include "lib/Runtime/AsyncRuntime.h"
#include "lib/Runtime/BufferCache.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/vector.h>

#include <atomic>
#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace nb = nanobind;

namespace {
struct ArgSpec {
  nb::object dtype;           // torch.dtype (compared by identity)
  std::vector<int64_t> dims;  // -1: dynamic
};
struct ResultSpec {
  nb::object dtype; // torch.dtype, for torch.empty of zero-size results
  nb::dlpack::dtype dl;
  size_t itemBytes;
  int64_t rank;
};

/// memref descriptor words: allocated, aligned, offset, sizes, strides.
int64_t descriptorWords(int64_t rank) { return 3 + 2 * rank; }

class Invoker {
public:
  Invoker(uintptr_t fn, std::vector<nb::tuple> args,
          std::vector<nb::tuple> results, nb::object mismatch, bool wake,
          bool status)
      : fn(reinterpret_cast<void (*)(void **)>(fn)),
        mismatch(std::move(mismatch)), wake(wake), status(status) {
    nb::module_ torch = nb::module_::import_("torch");
    tensorType = torch.attr("Tensor");
    empty = torch.attr("empty");
    // torch.utils.dlpack.from_dlpack, less its Python layer (imports,
    // hasattr, keyword retries): several us per result, more when cold.
    fromDLPack = torch.attr("_C").attr("_from_dlpack");
    for (nb::tuple a : args)
      argSpecs.push_back(
          {a[0], nb::cast<std::vector<int64_t>>(a[1])});
    for (nb::tuple r : results) {
      // (torch dtype, dlpack code, bits, rank)
      ResultSpec s;
      s.dtype = r[0];
      s.dl.code = nb::cast<uint8_t>(r[1]);
      s.dl.bits = nb::cast<uint8_t>(r[2]);
      s.dl.lanes = 1;
      s.itemBytes = s.dl.bits / 8;
      s.rank = nb::cast<int64_t>(r[3]);
      resultSpecs.push_back(s);
    }
  }

  nb::object call(nb::args args) {
    if (args.size() != argSpecs.size())
      return mismatch;
    // Pool threads asleep since the last call wake while the arguments are
    // read, not when the first parallel region already waits for them; not
    // if the last call queued no task (too few rows to split): a futex wake
    // costs the caller ~20 us on the VM measured.
    if (wake && lastUsedPool.load(std::memory_order_relaxed))
      mlir::dq::wakeAsyncWorkers();
    std::vector<nb::object> keep; // contiguous copies, alive over the call
    std::vector<int64_t> words;
    std::vector<size_t> starts;
    for (size_t i = 0; i < argSpecs.size(); ++i) {
      const ArgSpec &spec = argSpecs[i];
      nb::handle t = args[i];
      if (!nb::isinstance(t, tensorType) || !nb::cast<bool>(t.attr("is_cpu")) ||
          !t.attr("dtype").is(spec.dtype))
        return mismatch;
      nb::tuple shape = nb::borrow<nb::tuple>(t.attr("shape"));
      if (shape.size() != spec.dims.size())
        return mismatch;
      int64_t rank = spec.dims.size();
      std::vector<int64_t> sizes(rank);
      for (int64_t d = 0; d < rank; ++d) {
        sizes[d] = nb::cast<int64_t>(shape[d]);
        if (spec.dims[d] >= 0 && spec.dims[d] != sizes[d])
          return mismatch;
      }
      if (!nb::cast<bool>(t.attr("is_contiguous")())) {
        keep.push_back(t.attr("contiguous")());
        t = keep.back();
      }
      auto data = static_cast<int64_t>(nb::cast<uintptr_t>(t.attr("data_ptr")()));
      starts.push_back(words.size());
      words.insert(words.end(), {data, data, 0});
      words.insert(words.end(), sizes.begin(), sizes.end());
      // Row-major strides: what the identity-layout memref expects.
      std::vector<int64_t> strides(rank);
      for (int64_t d = rank - 1, s = 1; d >= 0; --d) {
        strides[d] = s;
        s *= sizes[d];
      }
      words.insert(words.end(), strides.begin(), strides.end());
    }
    int64_t resultWords = 0;
    for (const ResultSpec &r : resultSpecs)
      resultWords += descriptorWords(r.rank);
    std::vector<int64_t> results(resultWords, 0);

    // The packed wrapper takes pointers to its C-interface arguments: a
    // pointer to the result struct, then one to each argument's descriptor.
    std::vector<void *> inner{results.data()};
    for (size_t s : starts)
      inner.push_back(words.data() + s);
    std::vector<void *> packed;
    for (void *&p : inner)
      packed.push_back(&p);
    {
      nb::gil_scoped_release release;
      uint64_t queued = wake ? mlir::dq::asyncTasksQueued() : 0;
      fn(packed.data());
      if (wake)
        lastUsedPool.store(mlir::dq::asyncTasksQueued() != queued,
                           std::memory_order_relaxed);
    }

    size_t numOutputs = resultSpecs.size();
    if (status) {
      // The last result is dq-runtime-checks' status (a rank-0 i32): read it
      // and free its buffer; on a failed check, free every result and hand
      // the code to Python, which raises the check's message.
      --numOutputs;
      const int64_t *s = results.data();
      for (size_t i = 0; i < numOutputs; ++i)
        s += descriptorWords(resultSpecs[i].rank);
      int32_t code = *(reinterpret_cast<const int32_t *>(s[1]) + s[2]);
      if (s[0])
        dqmlirBufferFree(reinterpret_cast<void *>(s[0]));
      if (code != 0) {
        std::unordered_set<void *> freed;
        const int64_t *d = results.data();
        for (size_t i = 0; i < numOutputs; ++i) {
          auto *p = reinterpret_cast<void *>(d[0]);
          if (p && freed.insert(p).second)
            dqmlirBufferFree(p);
          d += descriptorWords(resultSpecs[i].rank);
        }
        return nb::make_tuple(mismatch, code);
      }
    }
    // Results may share a buffer (a model that returns y and a view of y,
    // or y twice): one owner per buffer, shared by the tensors on it, and a
    // buffer only empty results point into is freed once.
    std::unordered_map<void *, nb::object> owners;
    std::unordered_set<void *> unowned;
    std::vector<nb::object> outs;
    const int64_t *d = results.data();
    for (size_t i = 0; i < numOutputs; ++i) {
      const ResultSpec &r = resultSpecs[i];
      outs.push_back(toTensor(r, d, owners, unowned));
      d += descriptorWords(r.rank);
    }
    for (void *p : unowned)
      if (!owners.count(p))
        dqmlirBufferFree(p);
    if (outs.size() == 1)
      return outs[0];
    nb::list l;
    for (nb::object &o : outs)
      l.append(o);
    return nb::tuple(l);
  }

private:
  /// The result described at `d` as a tensor that owns its buffer, or
  /// shares it with the other results on it (`owners`); an empty result's
  /// buffer is left in `unowned`.
  nb::object toTensor(const ResultSpec &r, const int64_t *d,
                      std::unordered_map<void *, nb::object> &owners,
                      std::unordered_set<void *> &unowned) {
    void *allocated = reinterpret_cast<void *>(d[0]);
    auto *aligned = reinterpret_cast<char *>(d[1]);
    const int64_t *sizes = d + 3, *strides = d + 3 + r.rank;
    std::vector<size_t> shape(sizes, sizes + r.rank);
    int64_t n = 1;
    for (int64_t s : shape)
      n *= s;
    if (n == 0 || !aligned) {
      if (allocated)
        unowned.insert(allocated);
      nb::object dims = nb::cast(std::vector<int64_t>(sizes, sizes + r.rank));
      return empty(dims, nb::arg("dtype") = r.dtype);
    }
    // (No allocated pointer: nothing of ours to free.)
    nb::object owner;
    if (allocated) {
      auto [it, fresh] = owners.try_emplace(allocated);
      if (fresh)
        it->second = nb::capsule(allocated,
                                 [](void *p) noexcept { dqmlirBufferFree(p); });
      owner = it->second;
    }
    // No framework: nanobind exports a "dltensor" capsule.
    nb::ndarray<> array(aligned + d[2] * r.itemBytes, r.rank, shape.data(),
                        owner, strides, r.dl, nb::device::cpu::value);
    return fromDLPack(nb::cast(array, nb::rv_policy::reference));
  }

  void (*fn)(void **);
  nb::object mismatch, tensorType, empty, fromDLPack;
  std::vector<ArgSpec> argSpecs;
  std::vector<ResultSpec> resultSpecs;
  bool wake;
  bool status; // the last result is a check status
  // A hint: concurrent callers of one function may overwrite each other's.
  std::atomic<bool> lastUsedPool{true};
};
} // namespace

void dqmlir::python::populateInvoke(nb::module_ &m) {
  nb::class_<Invoker>(m, "Invoker",
                      "Calls a compiled function's packed `_mlir_` wrapper "
                      "on torch tensors (see python/Invoke.cpp).")
      .def(nb::init<uintptr_t, std::vector<nb::tuple>, std::vector<nb::tuple>,
                    nb::object, bool, bool>(),
           nb::arg("fn"), nb::arg("args"), nb::arg("results"),
           nb::arg("mismatch"), nb::arg("wake") = false,
           nb::arg("status") = false,
           "fn: address of the packed wrapper; args: [(torch dtype, dims "
           "with -1 for dynamic)]; results: [(torch dtype, dlpack code, "
           "bits, rank)]; mismatch: returned for arguments that do not fit; "
           "wake: wake the async runtime's threads as a call starts; status: "
           "the last result is a check status: (mismatch, code) is "
           "returned when it is not 0.")
      .def("__call__", &Invoker::call);
}
