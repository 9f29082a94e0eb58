//===- BufferCache.h - malloc for compiled dq code --------------*- C++ -*-===//
//
// What finalize-memref-to-llvm{use-generic-functions} calls instead of
// malloc/free (`_mlir_memref_to_llvm_alloc` etc.); a model library's
// undefined references to them resolve to the runtime library's exports. A model call allocates and frees the same buffer
// sizes every time (hundreds per call); glibc's malloc spent 10% of a
// BERT-base call sorting its bins for them. Freed buffers are kept per size
// and handed out again.
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_RUNTIME_BUFFERCACHE_H
#define DQMLIR_RUNTIME_BUFFERCACHE_H

#include <cstdint>

extern "C" {
/// 64-byte aligned, `size` bytes (a cached buffer of that size class if any).
void *dqmlirBufferAlloc(uint64_t size);
/// `alignment`-aligned (a power of two), `size` bytes.
void *dqmlirBufferAlignedAlloc(uint64_t alignment, uint64_t size);
/// Returns a buffer of the two above to the cache (or to the system when the
/// cache holds its limit). Pointers it did not make go to free().
void dqmlirBufferFree(void *ptr);
}

namespace mlir::dq {
struct BufferCacheStats {
  uint64_t hits, misses, cachedBytes, limitBytes;
  /// Bytes handed out and not freed yet, and their peak (what bounds the
  /// cache).
  uint64_t liveBytes, peakLiveBytes;
};
BufferCacheStats bufferCacheStats();
/// Frees every cached buffer.
void bufferCacheTrim();
/// The most bytes kept cached (default 512 MiB, or DQMLIR_BUFFER_CACHE_MB);
/// the cache keeps no more than the peak of live bytes either.
void setBufferCacheLimit(uint64_t bytes);
} // namespace mlir::dq

#endif // DQMLIR_RUNTIME_BUFFERCACHE_H
