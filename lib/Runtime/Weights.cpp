//===- Weights.cpp - a saved model's weights in memory --------------------===//
//
// weights.bin holds every large constant of the model at 64-byte aligned
// offsets; the code adds its offsets to the address stored in the library's
// `dqmlir_weights`. The file is read into an anonymous mapping aligned to
// 2 MiB and advised for transparent huge pages: the weights are read once
// per call, layer after layer, and on 4 KiB pages a cold 1 MiB read cost 10x
// its time in page walks on the machines measured (benchmarks/cold.py).
// DQMLIR_MMAP_WEIGHTS=1 maps the file instead (shared page cache between
// processes, 4 KiB pages).
//
// dlopen gives the same library (and so the same `dqmlir_weights`) to every
// open of one path: the weights are shared by those models, and released
// with the last of them.
//
//===----------------------------------------------------------------------===//

#include "lib/Runtime/Checksum.h"
#include "lib/Runtime/Model.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dqmlir::runtime {
struct Weights {
  void *map = nullptr;   // what munmap releases
  size_t mapBytes = 0;
  char *base = nullptr;  // 64-byte aligned start of the weights
  ~Weights() {
    if (map)
      munmap(map, mapBytes);
  }
};
} // namespace dqmlir::runtime

using namespace dqmlir::runtime;

namespace {
constexpr size_t kHuge = 2u << 20;

std::mutex &registryMutex() {
  static std::mutex m;
  return m;
}
std::map<void *, std::weak_ptr<Weights>> &registry() {
  static auto *r = new std::map<void *, std::weak_ptr<Weights>>;
  return *r;
}

bool readAll(int fd, char *to, size_t bytes) {
  while (bytes) {
    ssize_t n = read(fd, to, bytes);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    to += n;
    bytes -= size_t(n);
  }
  return true;
}
} // namespace

dqmlir_status dqmlir::runtime::loadWeights(Model &model,
                                           const json::Value &manifest,
                                           bool verify) {
  const json::Value &file = manifest["files"]["weights.bin"];
  if (file["size"].kind != json::Value::Int ||
      file["crc32c"].kind != json::Value::Int)
    return fail(DQMLIR_ERROR_FORMAT,
                model.dir + "/manifest.json: no size and crc32c of weights.bin");
  auto size = size_t(file["size"].i);
  auto **slot = static_cast<char **>(dlsym(model.library, "dqmlir_weights"));
  if (!slot)
    return fail(DQMLIR_ERROR_FORMAT,
                model.dir + "/model.so: no dqmlir_weights symbol");

  std::lock_guard<std::mutex> lock(registryMutex());
  if (std::shared_ptr<Weights> shared = registry()[model.library].lock()) {
    model.weights = shared;
    return DQMLIR_OK;
  }
  std::string path = model.dir + "/weights.bin";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(DQMLIR_ERROR_FORMAT, path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || size_t(st.st_size) != size) {
    close(fd);
    return fail(DQMLIR_ERROR_FORMAT,
                path + ": " + std::to_string(st.st_size) +
                    " bytes, the manifest says " + std::to_string(size) +
                    " (truncated or replaced)");
  }
  auto weights = std::make_shared<Weights>();
  const char *mmapOnly = std::getenv("DQMLIR_MMAP_WEIGHTS");
  if (mmapOnly && *mmapOnly == '1' && size) {
    weights->mapBytes = size;
    weights->map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (weights->map == MAP_FAILED) {
      weights->map = nullptr;
      close(fd);
      return fail(DQMLIR_ERROR_MEMORY, path + ": mmap failed");
    }
    weights->base = static_cast<char *>(weights->map);
  } else {
    weights->mapBytes = size + kHuge;
    weights->map = mmap(nullptr, weights->mapBytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (weights->map == MAP_FAILED) {
      weights->map = nullptr;
      close(fd);
      return fail(DQMLIR_ERROR_MEMORY,
                  "no memory for " + std::to_string(size) + " bytes of weights");
    }
    auto start = reinterpret_cast<uintptr_t>(weights->map);
    weights->base = reinterpret_cast<char *>((start + kHuge - 1) & ~(kHuge - 1));
#ifdef MADV_HUGEPAGE
    madvise(weights->base, size, MADV_HUGEPAGE); // advice only
#endif
    if (!readAll(fd, weights->base, size)) {
      close(fd);
      return fail(DQMLIR_ERROR_FORMAT, path + ": read failed");
    }
  }
  close(fd);
  if (verify) {
    uint32_t crc = dqmlirCRC32C(0, weights->base, size);
    if (crc != uint32_t(file["crc32c"].i))
      return fail(DQMLIR_ERROR_FORMAT,
                  path + ": its CRC32C differs from the manifest's (corrupted "
                         "or replaced); open with DQMLIR_OPEN_NO_CHECKSUM "
                         "(Python: verify=False) to skip this check");
  }
  *slot = weights->base;
  registry()[model.library] = weights;
  model.weights = std::move(weights);
  return DQMLIR_OK;
}
