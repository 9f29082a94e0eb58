//===- Profile.cpp - the counters of dq-profile-ops' ticks ---------------===//
//
// Code compiled with --profile calls dqmlir_profile_tick(id) after each op
// (lib/Transforms/ProfileOps.cpp): the time since the calling thread's
// previous tick goes to entry `id` of the manifest's "profile_ops"; id -1 (a
// function's entry) only starts the clock. The sums are process-wide, read and reset through runtime.h.
// steady_clock is a vDSO clock_gettime: about 20 ns a tick, a few hundred
// ticks per layer.
//
//===----------------------------------------------------------------------===//

#include "dqmlir/runtime.h"

#include <atomic>
#include <chrono>
#include <cstdint>

namespace {

// As many as dq-profile-ops numbers (kMaxEntries there).
constexpr int kMaxEntries = 16384;
std::atomic<int64_t> nanos[kMaxEntries];
std::atomic<int64_t> counts[kMaxEntries];
thread_local int64_t last = 0;

int64_t now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

} // namespace

extern "C" __attribute__((visibility("default"))) void
dqmlir_profile_tick(int32_t id) {
  int64_t t = now();
  if (id >= 0 && id < kMaxEntries && last != 0) {
    nanos[id].fetch_add(t - last, std::memory_order_relaxed);
    counts[id].fetch_add(1, std::memory_order_relaxed);
  }
  last = t;
}

extern "C" int dqmlir_profile_read(double *seconds, int64_t *ops,
                                   int capacity) {
  int n = 0;
  for (int k = 0; k < kMaxEntries; ++k)
    if (counts[k].load(std::memory_order_relaxed) != 0)
      n = k + 1;
  for (int k = 0; k < n && k < capacity; ++k) {
    if (seconds)
      seconds[k] = nanos[k].load(std::memory_order_relaxed) * 1e-9;
    if (ops)
      ops[k] = counts[k].load(std::memory_order_relaxed);
  }
  return n;
}

extern "C" void dqmlir_profile_reset(void) {
  for (int k = 0; k < kMaxEntries; ++k) {
    nanos[k].store(0, std::memory_order_relaxed);
    counts[k].store(0, std::memory_order_relaxed);
  }
}
