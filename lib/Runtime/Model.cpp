//===- Model.cpp - open, describe and run saved models --------------------===//
//
// The C API of include/dqmlir/runtime.h. Opening checks, in order: the
// manifest (format, dqmlir version), the CPU (every feature the code was
// compiled for, before any of it is loaded: a missing one would be SIGILL),
// the library (size and CRC32C, then dlopen, then the interface it was built
// with), the weights (size, CRC32C). Any mismatch is DQMLIR_ERROR_FORMAT or
// DQMLIR_ERROR_CPU with a message that names the file and the problem.
//
//===----------------------------------------------------------------------===//

#include "lib/Runtime/Model.h"
#include "lib/Runtime/AsyncRuntime.h"
#include "lib/Runtime/BufferCache.h"
#include "lib/Runtime/CPUFeatures.h"
#include "lib/Runtime/Checksum.h"

#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <iterator>
#include <sstream>

#ifndef DQMLIR_VERSION
#error "DQMLIR_VERSION must be defined by the build"
#endif

using namespace dqmlir::runtime;
using dqmlir::json::Value;

namespace {
thread_local std::string lastError;

constexpr const char *kDtypeNames[] = {
    "float32", "float64", "int64", "int32",   "int16",
    "int8",    "uint8",   "bool",  "float16", "bfloat16"};
constexpr size_t kDtypeSizes[] = {4, 8, 8, 4, 2, 1, 1, 1, 2, 2};
constexpr unsigned kNumDtypes = std::size(kDtypeSizes);

/// The whole file, checked against the manifest's size and CRC32C.
dqmlir_status verifiedFile(const std::string &dir, const Value &manifest,
                           const std::string &name, std::string &data) {
  std::string path = dir + "/" + name;
  const Value &entry = manifest["files"][name];
  if (entry["size"].kind != Value::Int || entry["crc32c"].kind != Value::Int)
    return fail(DQMLIR_ERROR_FORMAT,
                dir + "/manifest.json: no size and crc32c of " + name);
  if (!readFile(path, data))
    return fail(DQMLIR_ERROR_FORMAT, path + ": cannot read it");
  if (int64_t(data.size()) != entry["size"].i)
    return fail(DQMLIR_ERROR_FORMAT,
                path + ": " + std::to_string(data.size()) +
                    " bytes, the manifest says " +
                    std::to_string(entry["size"].i) +
                    " (truncated or replaced)");
  if (dqmlirCRC32C(0, data.data(), data.size()) != uint32_t(entry["crc32c"].i))
    return fail(DQMLIR_ERROR_FORMAT,
                path + ": its CRC32C differs from the manifest's (changed "
                       "after it was saved)");
  return DQMLIR_OK;
}

dqmlir_status readInterface(Model &m, const std::string &text) {
  std::string where = m.dir + "/interface.json: ";
  Value v;
  std::string error;
  if (!dqmlir::json::parse(text, v, error))
    return fail(DQMLIR_ERROR_FORMAT, where + error);
  m.name = v["name"].s.empty() ? "model" : v["name"].s;
  for (const Value &in : v["inputs"].array) {
    Input input{in["name"].s, DQMLIR_F32, in["dims"].array};
    if (!parseDtype(in["dtype"].s, input.dtype))
      return fail(DQMLIR_ERROR_FORMAT,
                  where + "input '" + input.name + "' has dtype '" +
                      in["dtype"].s + "'");
    m.inputs.push_back(std::move(input));
  }
  for (const Value &out : v["outputs"].array) {
    Output output{out["name"].s, DQMLIR_F32, int(out["rank"].i)};
    if (!parseDtype(out["dtype"].s, output.dtype) || output.rank < 0 ||
        output.rank > DQMLIR_MAX_RANK)
      return fail(DQMLIR_ERROR_FORMAT,
                  where + "output '" + output.name + "' is malformed");
    m.outputs.push_back(output);
  }
  for (auto &[sym, bounds] : v["ranges"].object) {
    auto bound = [](const Value &b) { return b.kind == Value::Int ? b.i : -1; };
    m.ranges.push_back(
        {sym, {bound(bounds[size_t(0)]), bound(bounds[size_t(1)])}});
  }
  for (auto &[sym, least] : v["min_sizes"].object) {
    static const std::map<std::string, dqmlir_status> kinds = {
        {"", DQMLIR_ERROR_VALUE},
        {"ValueError", DQMLIR_ERROR_VALUE},
        {"TypeError", DQMLIR_ERROR_TYPE},
        {"IndexError", DQMLIR_ERROR_INDEX},
        {"ZeroDivisionError", DQMLIR_ERROR_ZERO_DIVISION}};
    auto kind = kinds.find(least["error"].s);
    m.minSizes[sym] = {least["min"].i,
                       kind == kinds.end() ? DQMLIR_ERROR_RUNTIME : kind->second,
                       least["error"].s, least["why"].s};
  }
  for (const Value &c : v["checks"].array)
    m.checks.push_back(c.s);
  return DQMLIR_OK;
}

dqmlir_status openModel(const char *dirArg, unsigned flags, Model &m) {
  if (!dirArg)
    return fail(DQMLIR_ERROR_FORMAT, "no model directory given");
  m.dir = dirArg;
  std::string manifestPath = m.dir + "/manifest.json";
  if (!readFile(manifestPath, m.manifestText))
    return fail(DQMLIR_ERROR_FORMAT,
                manifestPath + ": cannot read it (not a saved dqmlir model?)");
  Value manifest;
  std::string error;
  if (!dqmlir::json::parse(m.manifestText, manifest, error))
    return fail(DQMLIR_ERROR_FORMAT, manifestPath + ": " + error);
  if (manifest["format"].s != "dqmlir-model")
    return fail(DQMLIR_ERROR_FORMAT,
                manifestPath + ": not a dqmlir model manifest");
  if (manifest["format_version"].i != kFormatVersion ||
      manifest["dqmlir_version"].s != DQMLIR_VERSION)
    return fail(DQMLIR_ERROR_FORMAT,
                manifestPath + ": written by dqmlir " +
                    manifest["dqmlir_version"].s + " (format " +
                    std::to_string(manifest["format_version"].i) +
                    "); this is dqmlir " DQMLIR_VERSION " (format " +
                    std::to_string(kFormatVersion) +
                    "): compile and save the model again");

  std::vector<std::string> required;
  for (const Value &f : manifest["target"]["features"].array)
    required.push_back(f.s);
  std::vector<std::string> missing = missingFeatures(required);
  if (!missing.empty()) {
    std::string list;
    for (const std::string &f : missing)
      list += (list.empty() ? "" : ", ") + f;
    return fail(DQMLIR_ERROR_CPU,
                m.dir + ": the code was compiled for " +
                    manifest["target"]["name"].s +
                    "; this machine lacks: " + list +
                    " (compile with a target this CPU has, e.g. "
                    "target=\"host\" on it)");
  }

  std::string interfaceText, library;
  if (dqmlir_status s = verifiedFile(m.dir, manifest, "interface.json",
                                     interfaceText))
    return s;
  if (dqmlir_status s = readInterface(m, interfaceText))
    return s;
  if (dqmlir_status s = verifiedFile(m.dir, manifest, "model.so", library))
    return s;
  std::string libraryPath = m.dir + "/model.so";
  // model.so needs this library by its soname (Exports.cpp): the loader
  // binds it to the copy already in the process.
  m.library = dlopen(libraryPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!m.library)
    return fail(DQMLIR_ERROR_FORMAT, libraryPath + ": " + dlerror());
  auto *crc = static_cast<const uint32_t *>(
      dlsym(m.library, "dqmlir_interface_crc"));
  if (!crc || *crc != dqmlirCRC32C(0, interfaceText.data(), interfaceText.size()))
    return fail(DQMLIR_ERROR_FORMAT,
                libraryPath + ": built for another interface.json");
  std::string mklError;
  if (dlsym(m.library, "dqmlir_needs_mkl") && !loadVectorMath(mklError))
    return fail(DQMLIR_ERROR_FORMAT, libraryPath + ": " + mklError);
  m.entry = reinterpret_cast<void (*)(void **)>(
      dlsym(m.library, "dqmlir_entry"));
  if (!m.entry)
    return fail(DQMLIR_ERROR_FORMAT, libraryPath + ": no dqmlir_entry");
  return loadWeights(m, manifest, !(flags & DQMLIR_OPEN_NO_CHECKSUM));
}

int64_t descriptorWords(int rank) { return 3 + 2 * int64_t(rank); }
} // namespace

dqmlir_status dqmlir::runtime::fail(dqmlir_status status,
                                    const std::string &message) {
  lastError = message;
  return status;
}

bool dqmlir::runtime::parseDtype(const std::string &name, dqmlir_dtype &out) {
  for (int i = 0; unsigned(i) < kNumDtypes; ++i) {
    if (name == kDtypeNames[i]) {
      out = dqmlir_dtype(i);
      return true;
    }
  }
  return false;
}

bool dqmlir::runtime::readFile(const std::string &path, std::string &out) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return false;
  std::ostringstream s;
  s << f.rdbuf();
  out = s.str();
  return !f.bad();
}

extern "C" {

dqmlir_status dqmlir_model_open(const char *dir, unsigned flags,
                                dqmlir_model **model) {
  if (!model)
    return fail(DQMLIR_ERROR_VALUE, "dqmlir_model_open: model is NULL");
  *model = nullptr;
  auto *m = new dqmlir_model;
  if (dqmlir_status s = openModel(dir, flags, *m)) {
    dqmlir_model_close(m);
    return s;
  }
  *model = m;
  return DQMLIR_OK;
}

void dqmlir_model_close(dqmlir_model *model) {
  if (!model)
    return;
  void *library = model->library;
  model->weights.reset();
  delete model;
  if (library)
    dlclose(library);
}

int dqmlir_model_num_inputs(const dqmlir_model *m) {
  return int(m->inputs.size());
}
int dqmlir_model_num_outputs(const dqmlir_model *m) {
  return int(m->outputs.size());
}
const char *dqmlir_model_input_name(const dqmlir_model *m, int i) {
  return i >= 0 && i < int(m->inputs.size()) ? m->inputs[i].name.c_str()
                                             : nullptr;
}
dqmlir_dtype dqmlir_model_input_dtype(const dqmlir_model *m, int i) {
  return m->inputs.at(i).dtype;
}
int dqmlir_model_input_rank(const dqmlir_model *m, int i) {
  return i >= 0 && i < int(m->inputs.size()) ? int(m->inputs[i].dims.size())
                                             : -1;
}
int64_t dqmlir_model_input_dim(const dqmlir_model *m, int i, int d) {
  if (i < 0 || i >= int(m->inputs.size()) || d < 0 ||
      d >= int(m->inputs[i].dims.size()))
    return -1;
  const Value &v = m->inputs[i].dims[d];
  return v.kind == Value::Int ? v.i : -1;
}
const char *dqmlir_model_output_name(const dqmlir_model *m, int i) {
  return i >= 0 && i < int(m->outputs.size()) ? m->outputs[i].name.c_str()
                                              : nullptr;
}
dqmlir_dtype dqmlir_model_output_dtype(const dqmlir_model *m, int i) {
  return m->outputs.at(i).dtype;
}
int dqmlir_model_output_rank(const dqmlir_model *m, int i) {
  return i >= 0 && i < int(m->outputs.size()) ? m->outputs[i].rank : -1;
}
const char *dqmlir_model_manifest(const dqmlir_model *m) {
  return m->manifestText.c_str();
}

dqmlir_status dqmlir_model_check(const dqmlir_model *model,
                                 const dqmlir_tensor *inputs, int numInputs) {
  if (!model)
    return fail(DQMLIR_ERROR_VALUE, "no model");
  return checkInputs(*model, inputs, numInputs);
}

dqmlir_status dqmlir_model_run(dqmlir_model *model, const dqmlir_tensor *inputs,
                               int numInputs, dqmlir_output *outputs,
                               int numOutputs) {
  if (dqmlir_status s = dqmlir_model_check(model, inputs, numInputs))
    return s;
  if (numOutputs != int(model->outputs.size()) || (numOutputs && !outputs))
    return fail(DQMLIR_ERROR_TYPE,
                model->name + "() returns " +
                    std::to_string(model->outputs.size()) + " tensors, room for " +
                    std::to_string(numOutputs) + " given");
  // Memref descriptors: allocated, aligned, offset, sizes, strides.
  std::vector<int64_t> words;
  std::vector<size_t> starts;
  for (int i = 0; i < numInputs; ++i) {
    const dqmlir_tensor &t = inputs[i];
    auto data = reinterpret_cast<int64_t>(t.data);
    starts.push_back(words.size());
    words.insert(words.end(), {data, data, 0});
    words.insert(words.end(), t.shape, t.shape + t.rank);
    std::vector<int64_t> strides(t.rank);
    for (int64_t d = t.rank - 1, s = 1; d >= 0; --d) {
      strides[d] = s;
      s *= t.shape[d];
    }
    words.insert(words.end(), strides.begin(), strides.end());
  }
  bool status = !model->checks.empty();
  int64_t resultWords = status ? descriptorWords(0) : 0;
  for (const Output &o : model->outputs)
    resultWords += descriptorWords(o.rank);
  std::vector<int64_t> results(resultWords, 0);
  std::vector<void *> inner{results.data()};
  for (size_t s : starts)
    inner.push_back(words.data() + s);
  std::vector<void *> packed;
  for (void *&p : inner)
    packed.push_back(&p);
  model->entry(packed.data());

  int32_t code = 0;
  if (status) {
    const int64_t *s = results.data() + resultWords - descriptorWords(0);
    code = *(reinterpret_cast<const int32_t *>(s[1]) + s[2]);
    dqmlirBufferFree(reinterpret_cast<void *>(s[0]));
  }
  const int64_t *d = results.data();
  for (int i = 0; i < numOutputs; ++i) {
    const Output &o = model->outputs[i];
    dqmlir_output &out = outputs[i];
    out.owner = reinterpret_cast<void *>(d[0]);
    out.data = reinterpret_cast<char *>(d[1]) + d[2] * dqmlir_dtype_size(o.dtype);
    out.rank = o.rank;
    out.dtype = o.dtype;
    std::memcpy(out.shape, d + 3, sizeof(int64_t) * o.rank);
    d += descriptorWords(o.rank);
    if (code) {
      dqmlir_output_free(&out);
      continue;
    }
    // Two results in one buffer (equal expressions that CSE merged, or a
    // result and a view of it): each output owns and frees its buffer, so
    // the later ones get a copy.
    for (int j = 0; j < i && out.owner; ++j) {
      if (outputs[j].owner != out.owner)
        continue;
      size_t bytes = dqmlir_dtype_size(o.dtype);
      for (int k = 0; k < o.rank; ++k)
        bytes *= size_t(out.shape[k]);
      void *copy = dqmlirBufferAlloc(bytes ? bytes : 1);
      std::memcpy(copy, out.data, bytes);
      out.owner = out.data = copy;
      break;
    }
  }
  if (code) {
    const std::string &message =
        code > 0 && size_t(code) <= model->checks.size()
            ? model->checks[code - 1]
            : "RuntimeError: unknown check " + std::to_string(code);
    dqmlir_status kind = DQMLIR_ERROR_RUNTIME;
    std::string text = message;
    for (auto [prefix, k] : {std::pair{"IndexError: ", DQMLIR_ERROR_INDEX},
                             {"ZeroDivisionError: ", DQMLIR_ERROR_ZERO_DIVISION},
                             {"ValueError: ", DQMLIR_ERROR_VALUE},
                             {"RuntimeError: ", DQMLIR_ERROR_RUNTIME}}) {
      if (message.rfind(prefix, 0) == 0) {
        kind = k;
        text = message.substr(std::strlen(prefix));
      }
    }
    return fail(kind, text);
  }
  return DQMLIR_OK;
}

void dqmlir_output_free(dqmlir_output *output) {
  if (!output)
    return;
  if (output->owner)
    dqmlirBufferFree(output->owner);
  output->owner = output->data = nullptr;
}

const char *dqmlir_last_error(void) { return lastError.c_str(); }

dqmlir_status dqmlir_set_num_threads(int threads) {
  if (threads < 1)
    return fail(DQMLIR_ERROR_VALUE,
                "threads must be >= 1, got " + std::to_string(threads));
  if (threads > 1)
    mlir::dq::setAsyncWorkers(threads - 1);
  return DQMLIR_OK;
}

const char *dqmlir_runtime_version(void) { return DQMLIR_VERSION; }

size_t dqmlir_dtype_size(dqmlir_dtype dtype) {
  return unsigned(dtype) < kNumDtypes ? kDtypeSizes[dtype] : 0;
}
const char *dqmlir_dtype_name(dqmlir_dtype dtype) {
  return unsigned(dtype) < kNumDtypes ? kDtypeNames[dtype] : "unknown";
}

} // extern "C"
