//===- Exports.cpp - what compiled models call, under MLIR's names --------===//
//
// A model library (model.so) leaves these symbols undefined: the buffer
// allocation functions of finalize-memref-to-llvm{use-generic-functions},
// memrefCopy (of MLIR's runner utilities), the async runtime API that
// convert-async-to-llvm calls (threads > 1), and __truncsfbf2.
// The dynamic loader binds them to these definitions when the runtime
// library is loaded in the process (model.so lists it as DT_NEEDED by its
// soname, which matches the already loaded copy).
//
//===----------------------------------------------------------------------===//

#include "lib/Runtime/BufferCache.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

using Resume = void (*)(void *);

extern "C" {
// lib/Runtime/AsyncRuntime.cpp
void dqAsyncAddRef(void *, int64_t);
void dqAsyncDropRef(void *, int64_t);
void *dqAsyncCreateToken();
void *dqAsyncCreateValue(int64_t);
void *dqAsyncCreateGroup(int64_t);
int64_t dqAsyncAddTokenToGroup(void *, void *);
void dqAsyncEmplace(void *);
void dqAsyncSetError(void *);
bool dqAsyncIsError(void *);
bool dqAsyncIsGroupError(void *);
void dqAsyncAwait(void *);
void dqAsyncAwaitAllInGroup(void *);
std::byte *dqAsyncGetValueStorage(void *);
void dqAsyncExecute(void *, Resume);
void dqAsyncAwaitAndExecute(void *, void *, Resume);
void dqAsyncAwaitAllInGroupAndExecute(void *, void *, Resume);
int64_t dqAsyncNumWorkerThreads();

#define DQ_EXPORT __attribute__((visibility("default")))

DQ_EXPORT void *_mlir_memref_to_llvm_alloc(uint64_t size) {
  return dqmlirBufferAlloc(size);
}
DQ_EXPORT void *_mlir_memref_to_llvm_aligned_alloc(uint64_t alignment,
                                                   uint64_t size) {
  return dqmlirBufferAlignedAlloc(alignment, size);
}
DQ_EXPORT void _mlir_memref_to_llvm_free(void *ptr) { dqmlirBufferFree(ptr); }

DQ_EXPORT void mlirAsyncRuntimeAddRef(void *o, int64_t n) { dqAsyncAddRef(o, n); }
DQ_EXPORT void mlirAsyncRuntimeDropRef(void *o, int64_t n) {
  dqAsyncDropRef(o, n);
}
DQ_EXPORT void *mlirAsyncRuntimeCreateToken() { return dqAsyncCreateToken(); }
DQ_EXPORT void *mlirAsyncRuntimeCreateValue(int64_t bytes) {
  return dqAsyncCreateValue(bytes);
}
DQ_EXPORT void *mlirAsyncRuntimeCreateGroup(int64_t size) {
  return dqAsyncCreateGroup(size);
}
DQ_EXPORT int64_t mlirAsyncRuntimeAddTokenToGroup(void *t, void *g) {
  return dqAsyncAddTokenToGroup(t, g);
}
DQ_EXPORT void mlirAsyncRuntimeEmplaceToken(void *t) { dqAsyncEmplace(t); }
DQ_EXPORT void mlirAsyncRuntimeEmplaceValue(void *v) { dqAsyncEmplace(v); }
DQ_EXPORT void mlirAsyncRuntimeSetTokenError(void *t) { dqAsyncSetError(t); }
DQ_EXPORT void mlirAsyncRuntimeSetValueError(void *v) { dqAsyncSetError(v); }
DQ_EXPORT bool mlirAsyncRuntimeIsTokenError(void *t) { return dqAsyncIsError(t); }
DQ_EXPORT bool mlirAsyncRuntimeIsValueError(void *v) { return dqAsyncIsError(v); }
DQ_EXPORT bool mlirAsyncRuntimeIsGroupError(void *g) {
  return dqAsyncIsGroupError(g);
}
DQ_EXPORT void mlirAsyncRuntimeAwaitToken(void *t) { dqAsyncAwait(t); }
DQ_EXPORT void mlirAsyncRuntimeAwaitValue(void *v) { dqAsyncAwait(v); }
DQ_EXPORT void mlirAsyncRuntimeAwaitAllInGroup(void *g) {
  dqAsyncAwaitAllInGroup(g);
}
DQ_EXPORT std::byte *mlirAsyncRuntimeGetValueStorage(void *v) {
  return dqAsyncGetValueStorage(v);
}
DQ_EXPORT void mlirAsyncRuntimeExecute(void *h, Resume r) { dqAsyncExecute(h, r); }
DQ_EXPORT void mlirAsyncRuntimeAwaitTokenAndExecute(void *t, void *h, Resume r) {
  dqAsyncAwaitAndExecute(t, h, r);
}
DQ_EXPORT void mlirAsyncRuntimeAwaitValueAndExecute(void *v, void *h, Resume r) {
  dqAsyncAwaitAndExecute(v, h, r);
}
DQ_EXPORT void mlirAsyncRuntimeAwaitAllInGroupAndExecute(void *g, void *h,
                                                         Resume r) {
  dqAsyncAwaitAllInGroupAndExecute(g, h, r);
}
/// float -> bfloat16 as c10::BFloat16 rounds (nearest even; every NaN becomes
/// 0x7FC0). LLVM calls this compiler-rt builtin to legalize bf16 vector code
/// (a select of bf16 vectors) on CPUs without AVX512-BF16, and GCC 12's
/// libgcc does not have it. The result travels in the low 16 bits of xmm0,
/// as the bits of a float (the builtin's ABI).
DQ_EXPORT float __truncsfbf2(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  uint32_t r = (u & 0x7fffffffu) > 0x7f800000u
                   ? 0x7fc0u
                   : (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  float out;
  std::memcpy(&out, &r, sizeof out);
  return out;
}

/// A memref of any rank, as the code passes it (MLIR's UnrankedMemRefType).
struct UnrankedMemRef {
  int64_t rank;
  void *descriptor; // allocated, aligned, offset, sizes[rank], strides[rank]
};

/// What memref.copy of non-identity layouts calls (MLIR's CRunnerUtils):
/// copies `src` to `dst`, elements of `elemSize` bytes, any strides. Its
/// callers are mostly concatenations and pads (im2col windows: strided
/// slices whose rows are contiguous), so dims that are contiguous on both
/// sides are merged and each innermost run of unit stride is one memmove;
/// only a copy whose innermost dim is strided goes element by element.
DQ_EXPORT void memrefCopy(int64_t elemSize, UnrankedMemRef *src,
                          UnrankedMemRef *dst) {
  int64_t rank = src->rank;
  auto *s = static_cast<int64_t *>(src->descriptor);
  auto *d = static_cast<int64_t *>(dst->descriptor);
  char *from = reinterpret_cast<char *>(s[1]) + s[2] * elemSize;
  char *to = reinterpret_cast<char *>(d[1]) + d[2] * elemSize;
  const int64_t *sizes = s + 3, *fromStrides = s + 3 + rank,
                *toStrides = d + 3 + rank;
  // Dims of size 1 dropped; an outer dim merged into the inner one after it
  // where both sides step over exactly that inner dim (row-major order kept).
  std::vector<int64_t> size, fs, ts;
  for (int64_t i = 0; i < rank; ++i) {
    if (sizes[i] == 0)
      return;
    if (sizes[i] == 1)
      continue;
    size.push_back(sizes[i]);
    fs.push_back(fromStrides[i]);
    ts.push_back(toStrides[i]);
  }
  std::vector<int64_t> msize, mfs, mts;
  for (size_t i = 0; i < size.size(); ++i) {
    if (!msize.empty() && mfs.back() == fs[i] * size[i] &&
        mts.back() == ts[i] * size[i]) {
      msize.back() *= size[i];
      mfs.back() = fs[i];
      mts.back() = ts[i];
      continue;
    }
    msize.push_back(size[i]);
    mfs.push_back(fs[i]);
    mts.push_back(ts[i]);
  }
  if (msize.empty()) {
    std::memmove(to, from, elemSize);
    return;
  }
  // The innermost dim: a run of unit stride is one memmove per row.
  int64_t n = static_cast<int64_t>(msize.size());
  bool rows = mfs[n - 1] == 1 && mts[n - 1] == 1;
  int64_t inner = msize[n - 1];
  int64_t outer = 1;
  for (int64_t i = 0; i + 1 < n; ++i)
    outer *= msize[i];
  std::vector<int64_t> index(n, 0);
  int64_t fo = 0, too = 0;
  for (int64_t r = 0; r < outer; ++r) {
    char *f = from + fo * elemSize, *t = to + too * elemSize;
    if (rows) {
      std::memmove(t, f, inner * elemSize);
    } else {
      int64_t fstep = mfs[n - 1] * elemSize, tstep = mts[n - 1] * elemSize;
      auto strided = [&](auto element) {
        for (int64_t j = 0; j < inner; ++j, f += fstep, t += tstep)
          std::memcpy(t, f, sizeof element);
      };
      switch (elemSize) {
      case 1: strided(uint8_t{}); break;
      case 2: strided(uint16_t{}); break;
      case 4: strided(uint32_t{}); break;
      case 8: strided(uint64_t{}); break;
      default:
        for (int64_t j = 0; j < inner; ++j, f += fstep, t += tstep)
          std::memcpy(t, f, elemSize);
      }
    }
    // The next row: an odometer over the outer dims, offsets kept.
    for (int64_t i = n - 2; i >= 0; --i) {
      fo += mfs[i];
      too += mts[i];
      if (++index[i] < msize[i])
        break;
      fo -= mfs[i] * msize[i];
      too -= mts[i] * msize[i];
      index[i] = 0;
    }
  }
}

// (sic: upstream's name)
DQ_EXPORT int64_t mlirAsyncRuntimGetNumWorkerThreads() {
  return dqAsyncNumWorkerThreads();
}
}
