//===- BufferCache.cpp - malloc for JIT-compiled dq code ------------------===//
//
// Each buffer carries a 16-byte header right before the pointer handed out:
// the system block it lives in and its size class (0: not cacheable), and a
// tag that tells our buffers from foreign ones. Size classes are the size
// rounded up to 64 bytes, so a model called on the same shapes gets exact
// hits. One mutex: calls from several threads (and the async runtime's
// workers) are rare and short compared with the work between them.
//
//===----------------------------------------------------------------------===//

#include "lib/Runtime/BufferCache.h"

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace {
constexpr uint32_t kTag = 0xdb0fca5e;

struct Header {
  void *block;
  uint32_t tag;
  uint32_t sizeClass64; // size class / 64
};
static_assert(sizeof(Header) == 16, "header layout");

struct Cache {
  std::mutex mutex;
  std::unordered_map<uint64_t, std::vector<void *>> free; // class -> buffers
  uint64_t hits = 0, misses = 0, cachedBytes = 0;
  uint64_t limitBytes = [] {
    const char *mb = std::getenv("DQMLIR_BUFFER_CACHE_MB");
    return (mb ? std::strtoull(mb, nullptr, 10) : 512) << 20;
  }();
};

Cache &cache() {
  static Cache *c = new Cache; // never destroyed: JIT code may run at exit
  return *c;
}

Header *headerOf(void *ptr) {
  return reinterpret_cast<Header *>(static_cast<char *>(ptr) - sizeof(Header));
}

/// A new system block holding `size` bytes at `alignment` after a header.
void *fresh(uint64_t alignment, uint64_t size, uint64_t sizeClass) {
  uint64_t room = (alignment > sizeof(Header) ? alignment : sizeof(Header));
  void *block = std::aligned_alloc(alignment < 64 ? 64 : alignment,
                                   ((room + size + 63) / 64) * 64);
  if (!block)
    return nullptr;
  void *ptr = static_cast<char *>(block) + room;
  *headerOf(ptr) = {block, kTag, uint32_t(sizeClass / 64)};
  return ptr;
}

/// Gives a buffer of ours back to the system.
void release(void *ptr) {
  Header *h = headerOf(ptr);
  h->tag = 0;
  std::free(h->block);
}
} // namespace

extern "C" void *dqmlirBufferAlloc(uint64_t size) {
  uint64_t sizeClass = ((size ? size : 1) + 63) / 64 * 64;
  if (sizeClass / 64 > UINT32_MAX)
    return fresh(64, size, 0);
  Cache &c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free.find(sizeClass);
    if (it != c.free.end() && !it->second.empty()) {
      void *ptr = it->second.back();
      it->second.pop_back();
      c.cachedBytes -= sizeClass;
      ++c.hits;
      return ptr;
    }
    ++c.misses;
  }
  return fresh(64, sizeClass, sizeClass);
}

extern "C" void *dqmlirBufferAlignedAlloc(uint64_t alignment, uint64_t size) {
  if (alignment <= 64)
    return dqmlirBufferAlloc(size);
  return fresh(alignment, size, 0);
}

extern "C" void dqmlirBufferFree(void *ptr) {
  if (!ptr)
    return;
  Header h = *headerOf(ptr);
  if (h.tag != kTag) {
    std::free(ptr); // not ours: what the code freed before this cache
    return;
  }
  uint64_t sizeClass = uint64_t(h.sizeClass64) * 64;
  if (sizeClass) {
    Cache &c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.cachedBytes + sizeClass <= c.limitBytes) {
      c.free[sizeClass].push_back(ptr);
      c.cachedBytes += sizeClass;
      return;
    }
  }
  release(ptr);
}

mlir::dq::BufferCacheStats mlir::dq::bufferCacheStats() {
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return {c.hits, c.misses, c.cachedBytes, c.limitBytes};
}

void mlir::dq::bufferCacheTrim() {
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto &[sizeClass, buffers] : c.free)
    for (void *ptr : buffers)
      release(ptr);
  c.free.clear();
  c.cachedBytes = 0;
}

void mlir::dq::setBufferCacheLimit(uint64_t bytes) {
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.limitBytes = bytes;
}
