//===- BufferCache.cpp - malloc for compiled dq code ----------------------===//
//
// Each buffer carries a 16-byte header right before the pointer handed out:
// the system block it lives in, its size class (0: not cacheable) and a tag
// that tells our buffers from foreign ones (and mmap'ed blocks from malloc'ed
// ones).
//
// Size classes: up to 4 KiB the size rounded up to 64 bytes; above, to a
// quarter of its power of two (at most 25% more than asked). A model called
// on the same shapes gets exact hits; a server whose shapes vary reuses one
// class for a range of sizes instead of keeping a buffer of every size it
// has seen.
//
// What the cache keeps is bounded by twice the largest working set seen:
// the peak of the bytes handed out and not yet freed (a call's
// intermediates and results; several calls' when they overlap). Twice,
// because a call's buffers, not all live at once, add up to more than its
// peak: bounded by the peak itself, the cache evicted some of them on every
// call, and they came back as fresh blocks (Wav2Vec2-base: 29 misses and
// 7,000 page faults a call; MiniLM 8x128 2,700; with twice the peak, none).
// Freed buffers beyond that bound, or beyond DQMLIR_BUFFER_CACHE_MB, evict
// the least recently freed ones (not larger ones freed since nothing was
// last live: then the freed buffer is released, see roomWithoutLarger). So
// the memory of the process stays within about three times its largest
// call, whatever the sequence of shapes.
//
// Blocks of 1 MiB and more are mmap'ed: their memory returns to the system
// when released, instead of staying in malloc's heap.
//
// One mutex: the lists are touched for a few instructions per allocation.
//
//===----------------------------------------------------------------------===//

#include "lib/Runtime/BufferCache.h"

#include <cstdlib>
#include <mutex>
#include <sys/mman.h>
#include <unordered_map>

namespace {
constexpr uint32_t kTag = 0xdb0fca5e;       // malloc'ed block
constexpr uint32_t kTagMapped = 0xdb0fca5f; // mmap'ed block
constexpr uint64_t kMapBytes = 1 << 20;     // from here blocks are mmap'ed
constexpr uint64_t kFineBytes = 4096;       // up to here classes step by 64

struct Header {
  void *block;
  uint32_t tag;
  uint32_t sizeClass64; // size class / 64
};
static_assert(sizeof(Header) == 16, "header layout");

/// A cached buffer's own memory holds its links (classes are >= 64 bytes):
/// the list of its size class and the cache-wide list in order of freeing.
struct Links {
  Links *classPrev, *classNext;
  Links *lruPrev, *lruNext;
  uint64_t freedAt; // the cache's allocation count when it was freed
};

struct Cache {
  std::mutex mutex;
  std::unordered_map<uint64_t, Links *> classes; // class -> most recent
  Links *oldest = nullptr, *newest = nullptr;    // the LRU list
  uint64_t hits = 0, misses = 0, cachedBytes = 0;
  // Allocations so far, and their count when no buffer was last live (the
  // end of a call, when calls do not overlap): roomWithoutLarger's clock.
  uint64_t allocations = 0, lastIdle = 0;
  uint64_t liveBytes = 0, peakLiveBytes = 0;
  uint64_t limitBytes = [] {
    const char *mb = std::getenv("DQMLIR_BUFFER_CACHE_MB");
    return (mb ? std::strtoull(mb, nullptr, 10) : 512) << 20;
  }();
};

Cache &cache() {
  static Cache *c = new Cache; // never destroyed: compiled code may run at exit
  return *c;
}

Header *headerOf(void *ptr) {
  return reinterpret_cast<Header *>(static_cast<char *>(ptr) - sizeof(Header));
}

uint64_t sizeClassOf(uint64_t size) {
  if (size <= kFineBytes)
    return ((size ? size : 1) + 63) / 64 * 64;
  uint64_t step = (uint64_t(1) << (63 - __builtin_clzll(size))) / 4;
  return (size + step - 1) / step * step;
}

/// Bytes of the system block for `size` bytes at `alignment` after a header.
uint64_t blockBytes(uint64_t room, uint64_t size) {
  return ((room + size + 63) / 64) * 64;
}

/// A new system block holding `size` bytes at `alignment` after a header.
void *fresh(uint64_t alignment, uint64_t size, uint64_t sizeClass) {
  uint64_t room = (alignment > sizeof(Header) ? alignment : sizeof(Header));
  uint64_t bytes = blockBytes(room, size);
  void *block;
  uint32_t tag = kTag;
  if (sizeClass >= kMapBytes && room == 64) {
    block = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block == MAP_FAILED)
      return nullptr;
    tag = kTagMapped;
  } else {
    block = std::aligned_alloc(alignment < 64 ? 64 : alignment, bytes);
    if (!block)
      return nullptr;
  }
  void *ptr = static_cast<char *>(block) + room;
  *headerOf(ptr) = {block, tag, uint32_t(sizeClass / 64)};
  return ptr;
}

/// Gives a buffer of ours back to the system.
void release(void *ptr) {
  Header *h = headerOf(ptr);
  void *block = h->block;
  uint64_t sizeClass = uint64_t(h->sizeClass64) * 64;
  bool mapped = h->tag == kTagMapped;
  h->tag = 0;
  if (mapped)
    munmap(block, blockBytes(64, sizeClass)); // mapped only with room 64
  else
    std::free(block);
}

uint64_t classOfCached(Links *l) {
  return uint64_t(headerOf(l)->sizeClass64) * 64;
}

/// Takes `l` off both lists (the cache's mutex held).
void unlink(Cache &c, Links *l) {
  uint64_t sizeClass = classOfCached(l);
  if (l->classPrev)
    l->classPrev->classNext = l->classNext;
  if (l->classNext)
    l->classNext->classPrev = l->classPrev;
  else if (l->classPrev)
    c.classes[sizeClass] = l->classPrev;
  else
    c.classes.erase(sizeClass);
  (l->lruPrev ? l->lruPrev->lruNext : c.oldest) = l->lruNext;
  (l->lruNext ? l->lruNext->lruPrev : c.newest) = l->lruPrev;
  c.cachedBytes -= sizeClass;
}

/// What the cache may hold now: twice the largest working set seen, within
/// the configured limit.
uint64_t bound(const Cache &c) {
  uint64_t twice = 2 * c.peakLiveBytes;
  return twice < c.limitBytes ? twice : c.limitBytes;
}

/// Whether a freed buffer of `sizeClass` bytes may be cached by evicting the
/// least recently freed ones: not if that would evict a larger mapped buffer
/// (1 MiB and more) freed since the last moment nothing was live (in this call, or at its start:
/// the previous call's results). A large block is costly to get back (an
/// mmap and a page fault per 4 KiB): an LSTM's per-step buffers evicted the
/// model's 11 MB output between calls, 3,000 page faults a call. Such a
/// small buffer goes back to the system instead; larger buffers left from
/// earlier calls are evicted as before.
bool roomWithoutLarger(const Cache &c, uint64_t sizeClass) {
  uint64_t limit = bound(c);
  if (c.cachedBytes + sizeClass <= limit)
    return true;
  uint64_t excess = c.cachedBytes + sizeClass - limit, freed = 0;
  for (Links *l = c.oldest; l && freed < excess; l = l->lruNext) {
    uint64_t other = classOfCached(l);
    if (other > sizeClass && other >= kMapBytes && l->freedAt >= c.lastIdle)
      return false;
    freed += other;
  }
  return true;
}
} // namespace

extern "C" void *dqmlirBufferAlloc(uint64_t size) {
  uint64_t sizeClass = sizeClassOf(size);
  if (sizeClass / 64 > UINT32_MAX)
    return fresh(64, size, 0);
  Cache &c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    ++c.allocations;
    c.liveBytes += sizeClass;
    if (c.liveBytes > c.peakLiveBytes)
      c.peakLiveBytes = c.liveBytes;
    auto it = c.classes.find(sizeClass);
    if (it != c.classes.end()) {
      Links *l = it->second;
      unlink(c, l);
      ++c.hits;
      return l;
    }
    ++c.misses;
  }
  void *ptr = fresh(64, sizeClass, sizeClass);
  if (!ptr) {
    std::lock_guard<std::mutex> lock(c.mutex);
    c.liveBytes -= sizeClass;
  }
  return ptr;
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
  if (h.tag != kTag && h.tag != kTagMapped) {
    std::free(ptr); // not ours: what the code freed before this cache
    return;
  }
  uint64_t sizeClass = uint64_t(h.sizeClass64) * 64;
  if (!sizeClass)
    return release(ptr);
  Cache &c = cache();
  Links *evicted = nullptr; // released after the lock is dropped
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    c.liveBytes -= sizeClass;
    if (!c.liveBytes)
      c.lastIdle = c.allocations;
    if (sizeClass > bound(c)) {
      evicted = static_cast<Links *>(ptr);
      evicted->lruNext = nullptr;
    } else if (!roomWithoutLarger(c, sizeClass)) {
      evicted = static_cast<Links *>(ptr);
      evicted->lruNext = nullptr;
    } else {
      while (c.cachedBytes + sizeClass > bound(c)) {
        Links *old = c.oldest;
        unlink(c, old);
        old->lruNext = evicted;
        evicted = old;
      }
      auto *l = static_cast<Links *>(ptr);
      Links *&top = c.classes[sizeClass];
      *l = {top, nullptr, c.newest, nullptr, c.allocations};
      if (top)
        top->classNext = l;
      top = l;
      (c.newest ? c.newest->lruNext : c.oldest) = l;
      c.newest = l;
      c.cachedBytes += sizeClass;
    }
  }
  while (evicted) {
    Links *next = evicted->lruNext;
    release(evicted);
    evicted = next;
  }
}

mlir::dq::BufferCacheStats mlir::dq::bufferCacheStats() {
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return {c.hits, c.misses, c.cachedBytes, c.limitBytes, c.liveBytes,
          c.peakLiveBytes};
}

void mlir::dq::bufferCacheTrim() {
  Cache &c = cache();
  Links *all;
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    all = c.oldest;
    c.classes.clear();
    c.oldest = c.newest = nullptr;
    c.cachedBytes = 0;
  }
  while (all) {
    Links *next = all->lruNext;
    release(all);
    all = next;
  }
}

void mlir::dq::setBufferCacheLimit(uint64_t bytes) {
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.limitBytes = bytes;
}
