//===- Model.h - a saved model, opened ---------------------------*- C++ -*-===//
//
// The runtime's view of a model directory (include/dqmlir/runtime.h): its
// manifest and interface, the loaded code, its weights. The files:
//
//   manifest.json   format and dqmlir version, target CPU features, the
//                   other files' sizes and CRC32Cs
//   interface.json  the entry point's inputs (dtype, sizes: ints, symbols or
//                   expressions, with the symbols' ranges), outputs, the
//                   run-time check messages and the Python call signature;
//                   model.so carries its CRC32C (`dqmlir_interface_crc`),
//                   so code and interface cannot be mixed up
//   model.so        `dqmlir_entry(void **)` (MLIR's packed calling
//                   convention over the C interface of the entry function),
//                   `dqmlir_weights` (where the runtime stores the weights'
//                   address), `dqmlir_interface_crc`
//   weights.bin     every large constant, 64-byte aligned, read at open
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_RUNTIME_MODEL_H
#define DQMLIR_RUNTIME_MODEL_H

#include "dqmlir/runtime.h"
#include "lib/Runtime/Json.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dqmlir::runtime {

constexpr int kFormatVersion = 1;

struct Input {
  std::string name;
  dqmlir_dtype dtype;
  /// Per dim: an int (static), a symbol name, an expression tree (JSON
  /// array) or null (unchecked).
  std::vector<json::Value> dims;
};

struct Output {
  std::string name;
  dqmlir_dtype dtype;
  int rank;
};

struct Weights; // Weights.cpp: one mapping per loaded library

/// What dqmlir_model points to.
struct Model {
  std::string dir, name, manifestText;
  std::vector<Input> inputs;
  std::vector<Output> outputs;
  /// symbol -> (lower, upper); -1: none.
  std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> ranges;
  /// Symbols export assumed to be >= 2 (python/dqmlir/frontend/size_probe.py):
  /// the smallest size the program holds for, and what a smaller one raises.
  struct MinSize {
    int64_t min;
    dqmlir_status error;
    std::string errorName; ///< empty if the shapes differ instead
    std::string why;
  };
  std::map<std::string, MinSize> minSizes;
  /// Run-time check messages: status k is checks[k - 1].
  std::vector<std::string> checks;
  void *library = nullptr;
  void (*entry)(void **) = nullptr;
  std::shared_ptr<Weights> weights;
};

/// Sets this thread's last error and returns `status`.
dqmlir_status fail(dqmlir_status status, const std::string &message);

bool parseDtype(const std::string &name, dqmlir_dtype &out);

/// The input checks of dqmlir_model_check (InputChecks.cpp).
dqmlir_status checkInputs(const Model &model, const dqmlir_tensor *inputs,
                          int numInputs);

/// Reads weights.bin for `library` (shared by every model of that library
/// in the process) and stores its address in the library (Weights.cpp).
dqmlir_status loadWeights(Model &model, const json::Value &manifest,
                          bool verify);

/// Reads a whole file; false if it cannot.
bool readFile(const std::string &path, std::string &out);

/// Loads MKL's vmsTanh for dq.tanh (VectorMath.cpp); false with the reason.
bool loadVectorMath(std::string &error);

} // namespace dqmlir::runtime

struct dqmlir_model : dqmlir::runtime::Model {};

#endif // DQMLIR_RUNTIME_MODEL_H
