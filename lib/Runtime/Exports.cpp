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
/// copies `src` to `dst`, elements of `elemSize` bytes, any strides.
DQ_EXPORT void memrefCopy(int64_t elemSize, UnrankedMemRef *src,
                          UnrankedMemRef *dst) {
  int64_t rank = src->rank;
  auto *s = static_cast<int64_t *>(src->descriptor);
  auto *d = static_cast<int64_t *>(dst->descriptor);
  char *from = reinterpret_cast<char *>(s[1]) + s[2] * elemSize;
  char *to = reinterpret_cast<char *>(d[1]) + d[2] * elemSize;
  const int64_t *sizes = s + 3, *fromStrides = s + 3 + rank,
                *toStrides = d + 3 + rank;
  int64_t count = 1;
  for (int64_t i = 0; i < rank; ++i)
    count *= sizes[i];
  if (count == 0)
    return;
  // Both row-major and contiguous: one memcpy.
  bool contiguous = true;
  for (int64_t i = rank - 1, expect = 1; i >= 0; --i) {
    if (sizes[i] != 1 &&
        (fromStrides[i] != expect || toStrides[i] != expect))
      contiguous = false;
    expect *= sizes[i];
  }
  if (contiguous) {
    std::memmove(to, from, count * elemSize);
    return;
  }
  std::vector<int64_t> index(rank, 0);
  for (int64_t n = 0; n < count; ++n) {
    int64_t fo = 0, to_ = 0;
    for (int64_t i = 0; i < rank; ++i) {
      fo += index[i] * fromStrides[i];
      to_ += index[i] * toStrides[i];
    }
    std::memcpy(to + to_ * elemSize, from + fo * elemSize, elemSize);
    for (int64_t i = rank - 1; i >= 0 && ++index[i] == sizes[i]; --i)
      index[i] = 0;
  }
}

// (sic: upstream's name)
DQ_EXPORT int64_t mlirAsyncRuntimGetNumWorkerThreads() {
  return dqAsyncNumWorkerThreads();
}
}
