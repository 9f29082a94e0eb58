//===- VectorMath.cpp - MKL's tanh, as PyTorch's CPU kernels call it ------===//
//
// torch.tanh on f32 CPU tensors is ATen's vml::vtanh, i.e. MKL's vmsTanh in
// high-accuracy mode with denormals kept. No open implementation rounds as
// it does, so compiled code (dq.tanh) calls dqmlirTanhf, which forwards to
// vmsTanh from the `mkl` PyPI package's libmkl_rt, loaded on first use and
// set to its sequential threading layer (a call is one vector or one
// element: threads would only cost).
//
// Where it is looked for: $DQMLIR_MKL_LIBRARY if set, else the directory the
// build saw it in (the venv's lib/), then the loader's search path. A model
// that needs it exports dqmlir_needs_mkl; Model.cpp refuses to open it
// without MKL.
//
//===----------------------------------------------------------------------===//

#include "lib/Runtime/Model.h"

#include <cstdint>
#include <cstdlib>
#include <dlfcn.h>
#include <limits>
#include <string>

namespace {

using VmsTanh = void (*)(int n, const float *a, float *r, long long mode);
// VML_HA | VML_FTZDAZ_OFF | VML_ERRMODE_IGNORE, as ATen passes it.
constexpr long long kMode = 0x2 | 0x140000 | 0x100;
constexpr int kThreadingSequential = 1;

struct Mkl {
  VmsTanh tanh = nullptr;
  std::string error;
};

Mkl loadMkl() {
  Mkl mkl;
  std::string tried;
  // $DQMLIR_MKL_LIBRARY, when set, is the only place looked at.
  std::string candidates[3];
  if (const char *env = std::getenv("DQMLIR_MKL_LIBRARY")) {
    candidates[0] = env;
  } else {
#ifdef DQMLIR_MKL_DIR
    candidates[1] = DQMLIR_MKL_DIR "/libmkl_rt.so.3";
#endif
    candidates[2] = "libmkl_rt.so.3";
  }
  for (const std::string &path : candidates) {
    if (path.empty())
      continue;
    void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      tried += "\n  " + std::string(dlerror());
      continue;
    }
    if (auto setLayer = reinterpret_cast<int (*)(int)>(
            dlsym(handle, "MKL_Set_Threading_Layer")))
      setLayer(kThreadingSequential);
    mkl.tanh = reinterpret_cast<VmsTanh>(dlsym(handle, "vmsTanh"));
    if (mkl.tanh)
      return mkl;
    tried += "\n  " + path + ": no vmsTanh";
  }
  mkl.error = "this model computes tanh as PyTorch does, with Intel MKL's "
              "vmsTanh, and MKL could not be loaded (pip install mkl, or set "
              "DQMLIR_MKL_LIBRARY to its libmkl_rt.so.3):" +
              tried;
  return mkl;
}

const Mkl &mkl() {
  static const Mkl loaded = loadMkl();
  return loaded;
}

} // namespace

bool dqmlir::runtime::loadVectorMath(std::string &error) {
  error = mkl().error;
  return mkl().tanh != nullptr;
}

extern "C" __attribute__((visibility("default"))) void
dqmlirTanhN(const float *in, float *out, int64_t n) {
  // Unreachable without MKL: Model.cpp does not open such a model.
  if (!mkl().tanh) {
    for (int64_t i = 0; i < n; ++i)
      out[i] = std::numeric_limits<float>::quiet_NaN();
    return;
  }
  mkl().tanh(int(n), in, out, kMode);
}

extern "C" __attribute__((visibility("default"))) float dqmlirTanhf(float x) {
  float y;
  dqmlirTanhN(&x, &y, 1);
  return y;
}
