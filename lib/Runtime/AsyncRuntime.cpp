//===- AsyncRuntime.cpp - the async runtime API with spinning threads -----===//
//
// What convert-async-to-llvm calls for the kernels' scf.forall (threads > 1):
// the C API of mlir/ExecutionEngine/AsyncRuntime.h, implemented here because
// the upstream library's threads sleep on condition variables between tasks.
// A parallel region then costs two futex wake-ups (a pool thread for the
// task, the caller for the result): 50-100 us on the 2-vCPU machine measured,
// as much as a 768 x 768 layer at batch 128. Here a pool thread spins for a
// while after its last task (DQMLIR_ASYNC_SPIN_US, default 100) and the
// caller spins before it sleeps, so the regions of one model call hand over
// in well under a microsecond; idle threads still sleep, and a threaded
// call wakes them as it starts (wakeAsyncWorkers, from
// python/RuntimeModule.cpp) so the wake-up overlaps reading its arguments. (Measured on the 2-vCPU VM:
// the futex wake of a sleeping thread costs the caller ~20 us, and that
// thread takes its first task ~50 us later. Polling with short sleeps
// instead halved PyTorch's 2-thread speed next to us, so idle threads
// sleep for real.) A caller waiting
// for a region runs its queued tasks itself (async-parallel-for makes up to
// 4 blocks per worker; a caller that only waited left them to one thread).
//
// Semantics follow the API: tokens and values start with two references
// (the caller's and the producer's, dropped when it completes them), groups
// with one; completing runs the awaiters; blocking awaits only ever happen
// in the caller (tasks suspend as coroutines), so one pool thread per core
// besides the caller cannot deadlock.
//
//===----------------------------------------------------------------------===//

#include "lib/Runtime/AsyncRuntime.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <immintrin.h>

namespace {
using Resume = void (*)(void *);
using Clock = std::chrono::steady_clock;

std::chrono::microseconds spinTime() {
  static const std::chrono::microseconds t{[] {
    const char *env = std::getenv("DQMLIR_ASYNC_SPIN_US");
    return env ? std::strtoll(env, nullptr, 10) : 100;
  }()};
  return t;
}

/// Spins until `ready()` or the spin time is over; returns ready().
template <typename Pred>
bool spinUntil(Pred ready) {
  if (ready())
    return true;
  auto end = Clock::now() + spinTime();
  for (unsigned i = 1;; ++i) {
    _mm_pause();
    if (ready())
      return true;
    if (i % 64 == 0 && Clock::now() >= end)
      return false;
  }
}

struct RefCounted {
  explicit RefCounted(int64_t refs) : refs(refs) {}
  virtual ~RefCounted() = default;
  void drop(int64_t n) {
    if (refs.fetch_sub(n, std::memory_order_acq_rel) == n)
      delete this;
  }
  std::atomic<int64_t> refs;
};

/// Runs one queued task, if any, on the calling thread.
bool runQueuedTask();
/// Whether tasks are queued.
bool tasksQueued();

/// Runs `then` callbacks once something is done. A blocked caller runs
/// queued tasks meanwhile (async-parallel-for makes up to 4 blocks per
/// thread, and a caller that only waited would leave them all to the pool),
/// then spins, then sleeps.
struct Awaitable {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::function<void()>> awaiters;

  /// Marks done with `markDone` (under the lock) and runs the awaiters.
  template <typename F>
  void finish(F markDone) {
    std::vector<std::function<void()>> run;
    {
      std::lock_guard<std::mutex> lock(mu);
      markDone();
      run.swap(awaiters);
    }
    cv.notify_all();
    for (auto &f : run)
      f();
  }
  template <typename Pred>
  void wait(Pred done) {
    for (;;) {
      if (done())
        return;
      if (runQueuedTask())
        continue;
      if (!spinUntil([&] { return done() || tasksQueued(); }))
        break;
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, done);
  }
  template <typename Pred>
  void then(Pred done, std::function<void()> f) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!done()) {
        awaiters.push_back(std::move(f));
        return;
      }
    }
    f();
  }
};

enum State : int { kPending = 0, kReady = 1, kError = 2 };

/// A token, or a value with its storage.
struct Completion : RefCounted, Awaitable {
  explicit Completion(int64_t bytes = 0) : RefCounted(2), storage(bytes) {}
  std::atomic<int> state{kPending};
  std::vector<std::byte> storage;

  bool done() const { return state.load(std::memory_order_acquire) != kPending; }
  void complete(State s) {
    finish([&] { state.store(s, std::memory_order_release); });
    drop(1); // the producer's reference
  }
};

struct Group : RefCounted, Awaitable {
  explicit Group(int64_t size) : RefCounted(1), pending(size) {}
  std::atomic<int64_t> pending, errors{0}, rank{0};

  bool done() const { return pending.load(std::memory_order_acquire) == 0; }
  void memberDone(bool error) {
    if (error)
      errors.fetch_add(1);
    if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1)
      finish([] {});
  }
};

/// Pool threads that spin for tasks before they sleep.
class Pool {
public:
  explicit Pool(int requested) {
    int n = static_cast<int>(std::thread::hardware_concurrency()) - 1;
    if (const char *env = std::getenv("DQMLIR_ASYNC_WORKERS"))
      n = std::atoi(env);
    if (requested > 0)
      n = requested;
    size = 0;
    grow(n < 1 ? 1 : n);
  }
  /// Adds threads up to `n` (threads are never taken away: they sleep when
  /// idle).
  void grow(int n) {
    std::lock_guard<std::mutex> lock(growing);
    for (int64_t i = size; i < n; ++i)
      std::thread([this] { work(); }).detach();
    if (n > size)
      size = n;
  }
  bool runOne() {
    std::pair<void *, Resume> task;
    if (!tryPop(task))
      return false;
    task.second(task.first);
    return true;
  }
  bool queuedTasks() const {
    return queued.load(std::memory_order_acquire) != 0;
  }
  void push(void *handle, Resume resume) {
    std::lock_guard<std::mutex> lock(mu);
    tasks.emplace_back(handle, resume);
    queued.fetch_add(1, std::memory_order_release);
    pushed.fetch_add(1, std::memory_order_relaxed);
    if (sleepers)
      cv.notify_one();
  }
  /// Gets sleeping threads spinning again, before the tasks come.
  void wake() {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!sleepers)
        return;
      ++wakes;
    }
    cv.notify_all();
  }
  std::atomic<int64_t> size;
  std::mutex growing;
  std::atomic<uint64_t> pushed{0}; // tasks ever queued

private:
  bool tryPop(std::pair<void *, Resume> &task) {
    if (queued.load(std::memory_order_acquire) == 0)
      return false;
    std::lock_guard<std::mutex> lock(mu);
    if (tasks.empty())
      return false;
    task = tasks.front();
    tasks.pop_front();
    queued.fetch_sub(1, std::memory_order_relaxed);
    return true;
  }
  void work() {
    for (;;) {
      std::pair<void *, Resume> task;
      if (!spinUntil([&] { return tryPop(task); })) {
        std::unique_lock<std::mutex> lock(mu);
        ++sleepers;
        uint64_t seen = wakes;
        cv.wait(lock, [&] { return !tasks.empty() || wakes != seen; });
        --sleepers;
        if (tasks.empty())
          continue; // woken ahead of a call: spin for its tasks
        task = tasks.front();
        tasks.pop_front();
        queued.fetch_sub(1, std::memory_order_relaxed);
      }
      task.second(task.first);
    }
  }

  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<void *, Resume>> tasks;
  std::atomic<int64_t> queued{0};
  int sleepers = 0;
  uint64_t wakes = 0; // wake() calls that found sleepers
};

/// Workers asked for before the pool started (dqmlir_set_num_threads).
std::atomic<int> requestedWorkers{0};

/// One per process, never destroyed: engines come and go, the threads stay.
Pool &pool() {
  static Pool *p = new Pool(requestedWorkers.load());
  return *p;
}
bool runQueuedTask() { return pool().runOne(); }
bool tasksQueued() { return pool().queuedTasks(); }

// Objects cross the C API as their RefCounted base.
Completion *asCompletion(void *p) {
  return static_cast<Completion *>(static_cast<RefCounted *>(p));
}
Group *asGroup(void *p) {
  return static_cast<Group *>(static_cast<RefCounted *>(p));
}
} // namespace

extern "C" {
void dqAsyncAddRef(void *obj, int64_t n) {
  static_cast<RefCounted *>(obj)->refs.fetch_add(n, std::memory_order_relaxed);
}
void dqAsyncDropRef(void *obj, int64_t n) {
  static_cast<RefCounted *>(obj)->drop(n);
}
void *dqAsyncCreateToken() { return static_cast<RefCounted *>(new Completion); }
void *dqAsyncCreateValue(int64_t bytes) {
  return static_cast<RefCounted *>(new Completion(bytes));
}
void *dqAsyncCreateGroup(int64_t size) {
  return static_cast<RefCounted *>(new Group(size));
}
int64_t dqAsyncAddTokenToGroup(void *token, void *group) {
  Completion *t = asCompletion(token);
  Group *g = asGroup(group);
  int64_t rank = g->rank.fetch_add(1);
  g->refs.fetch_add(1); // alive until the token is done
  t->then([t] { return t->done(); }, [t, g] {
    g->memberDone(t->state.load() == kError);
    g->drop(1);
  });
  return rank;
}
void dqAsyncEmplace(void *obj) { asCompletion(obj)->complete(kReady); }
void dqAsyncSetError(void *obj) { asCompletion(obj)->complete(kError); }
bool dqAsyncIsError(void *obj) {
  return asCompletion(obj)->state.load() == kError;
}
bool dqAsyncIsGroupError(void *group) { return asGroup(group)->errors > 0; }
void dqAsyncAwait(void *obj) {
  Completion *c = asCompletion(obj);
  c->wait([c] { return c->done(); });
}
void dqAsyncAwaitAllInGroup(void *group) {
  Group *g = asGroup(group);
  g->wait([g] { return g->done(); });
}
std::byte *dqAsyncGetValueStorage(void *value) {
  return asCompletion(value)->storage.data();
}
void dqAsyncExecute(void *handle, Resume resume) {
  pool().push(handle, resume);
}
void dqAsyncAwaitAndExecute(void *obj, void *handle, Resume resume) {
  Completion *c = asCompletion(obj);
  c->then([c] { return c->done(); }, [handle, resume] { resume(handle); });
}
void dqAsyncAwaitAllInGroupAndExecute(void *group, void *handle,
                                      Resume resume) {
  Group *g = asGroup(group);
  g->then([g] { return g->done(); }, [handle, resume] { resume(handle); });
}
int64_t dqAsyncNumWorkerThreads() { return pool().size; }
}

void mlir::dq::wakeAsyncWorkers() { pool().wake(); }
void mlir::dq::setAsyncWorkers(int workers) {
  requestedWorkers.store(workers);
  pool().grow(workers);
}
uint64_t mlir::dq::asyncTasksQueued() {
  return pool().pushed.load(std::memory_order_relaxed);
}

std::vector<std::pair<const char *, void *>> mlir::dq::asyncRuntimeSymbols() {
  auto fn = [](auto f) { return reinterpret_cast<void *>(f); };
  return {
      {"mlirAsyncRuntimeAddRef", fn(&dqAsyncAddRef)},
      {"mlirAsyncRuntimeDropRef", fn(&dqAsyncDropRef)},
      {"mlirAsyncRuntimeCreateToken", fn(&dqAsyncCreateToken)},
      {"mlirAsyncRuntimeCreateValue", fn(&dqAsyncCreateValue)},
      {"mlirAsyncRuntimeCreateGroup", fn(&dqAsyncCreateGroup)},
      {"mlirAsyncRuntimeAddTokenToGroup", fn(&dqAsyncAddTokenToGroup)},
      {"mlirAsyncRuntimeEmplaceToken", fn(&dqAsyncEmplace)},
      {"mlirAsyncRuntimeEmplaceValue", fn(&dqAsyncEmplace)},
      {"mlirAsyncRuntimeSetTokenError", fn(&dqAsyncSetError)},
      {"mlirAsyncRuntimeSetValueError", fn(&dqAsyncSetError)},
      {"mlirAsyncRuntimeIsTokenError", fn(&dqAsyncIsError)},
      {"mlirAsyncRuntimeIsValueError", fn(&dqAsyncIsError)},
      {"mlirAsyncRuntimeIsGroupError", fn(&dqAsyncIsGroupError)},
      {"mlirAsyncRuntimeAwaitToken", fn(&dqAsyncAwait)},
      {"mlirAsyncRuntimeAwaitValue", fn(&dqAsyncAwait)},
      {"mlirAsyncRuntimeAwaitAllInGroup", fn(&dqAsyncAwaitAllInGroup)},
      {"mlirAsyncRuntimeGetValueStorage", fn(&dqAsyncGetValueStorage)},
      {"mlirAsyncRuntimeExecute", fn(&dqAsyncExecute)},
      {"mlirAsyncRuntimeAwaitTokenAndExecute", fn(&dqAsyncAwaitAndExecute)},
      {"mlirAsyncRuntimeAwaitValueAndExecute", fn(&dqAsyncAwaitAndExecute)},
      {"mlirAsyncRuntimeAwaitAllInGroupAndExecute",
       fn(&dqAsyncAwaitAllInGroupAndExecute)},
      {"mlirAsyncRuntimGetNumWorkerThreads", fn(&dqAsyncNumWorkerThreads)},
  };
}
