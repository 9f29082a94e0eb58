//===- dq-compile.cpp - dq/linalg MLIR to a saved model directory ---------===//
//
//   dq-compile model.mlir -o DIR [--target host|amx|avx512-vnni|x86-64-v3]
//              [--num-threads N] [--interface partial.json] [--entry-point main]
//
// Writes DIR/model.so, DIR/weights.bin, DIR/interface.json and
// DIR/manifest.json: a directory the runtime (include/dqmlir/runtime.h,
// dq-run, dqmlir.load) opens. The steps: dq-runtime-checks,
// dq-cpu-pipeline with the target level's kernel, the large constants moved
// to weights.bin, the packed entry point, LLVM's optimization and code
// generation for the level, and `cc -shared` against the runtime library.
// The Python compile runs this tool in a child process; lit tests use it to
// check AOT output (for example that the kernels contain tdpbusd).
//
// --interface gives what Python knows of the entry point (argument names,
// symbolic sizes and their ranges, the Python call signature); without it
// the arguments are named arg0, arg1, ... with every dynamic size free.
//
//===----------------------------------------------------------------------===//

#include "lib/InitAll.h"
#include "lib/Pipelines/CPUPipeline.h"
#include "lib/Runtime/Checksum.h"
#include "lib/Target/ModelLibrary/ModelLibrary.h"
#include "lib/Transforms/Passes.h"
#include "lib/Transforms/ProfileKinds.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

#include <chrono>

#ifndef DQMLIR_VERSION
#error "DQMLIR_VERSION must be defined by the build"
#endif

using namespace mlir;
namespace cl = llvm::cl;
namespace json = llvm::json;

static cl::opt<std::string> input(cl::Positional, cl::desc("<input .mlir or .mlirbc>"),
                                  cl::init("-"));
static cl::opt<std::string> outDir("o", cl::desc("model directory to write"),
                                   cl::Required);
static cl::opt<std::string> targetName("target", cl::init("host"),
                                       cl::desc("CPU level: host, amx, avx512-vnni, x86-64-v3"));
static cl::opt<int64_t> threads("num-threads", cl::init(1),
                                cl::desc("threads the kernels split work over"));
static cl::opt<std::string> kernelName(
    "kernel", cl::init(""),
    cl::desc("override the level's int8 kernel (amx, vnni, avx2, generic)"));
static cl::opt<std::string> entryName("entry-point", cl::init("main"),
                                      cl::desc("the function to export"));
static cl::opt<std::string> interfacePath(
    "interface", cl::init(""), cl::desc("partial interface.json from Python"));
static cl::opt<unsigned> optLevel("opt-level", cl::init(2), cl::desc("LLVM opt level"));
static cl::opt<bool> profile(
    "profile", cl::init(false),
    cl::desc("time each op of a call (dq-profile-ops); the manifest lists "
             "the kinds and the ops"));
static cl::opt<bool> outlineLayers(
    "outline-layers", cl::init(true),
    cl::desc("compile repeated layers once (dq-outline-layers)"));
static cl::opt<uint64_t> minWeightBytes(
    "min-weight-bytes", cl::init(4096),
    cl::desc("constants of at least this size go to weights.bin"));
static cl::opt<std::string> runtimeDir(
    "runtime-dir", cl::init(""),
    cl::desc("directory of libdqmlir_runtime.so (default: ../lib beside this tool)"));
static cl::opt<std::string> emitLLVMDialect(
    "emit-llvm-dialect", cl::init(""),
    cl::desc("also write the lowered module (LLVM dialect) there"));
static cl::opt<std::string> emitLLVMIR(
    "emit-llvm-ir", cl::init(""), cl::desc("also write the optimized LLVM IR there"));

namespace {
using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

int fail(const llvm::Twine &message) {
  llvm::errs() << "dq-compile: " << message << "\n";
  return 1;
}

bool writeFile(StringRef path, StringRef data) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return false;
  os << data;
  return !os.has_error();
}

json::Object fileEntry(StringRef data) {
  return json::Object{{"size", int64_t(data.size())},
                      {"crc32c", int64_t(dqmlirCRC32C(0, data.data(), data.size()))}};
}

std::string dtypeName(Type t) {
  if (t.isF32()) return "float32";
  if (t.isF64()) return "float64";
  if (t.isF16()) return "float16";
  if (t.isBF16()) return "bfloat16";
  if (t.isInteger(64)) return "int64";
  if (t.isInteger(32)) return "int32";
  if (t.isInteger(16)) return "int16";
  if (t.isInteger(1)) return "bool";
  if (auto i = dyn_cast<IntegerType>(t); i && i.getWidth() == 8)
    return i.isUnsigned() ? "uint8" : "int8";
  return "";
}

/// interface.json: Python's partial one (or one made from the function
/// type), with the outputs and the run-time check messages filled in.
FailureOr<json::Object> makeInterface(func::FuncOp entry, ArrayRef<Type> args,
                                      ArrayRef<Type> results) {
  json::Object iface;
  if (!interfacePath.empty()) {
    auto buffer = llvm::MemoryBuffer::getFile(interfacePath);
    if (!buffer)
      return failure();
    llvm::Expected<json::Value> parsed = json::parse((*buffer)->getBuffer());
    if (!parsed || !parsed->getAsObject()) {
      llvm::consumeError(parsed.takeError());
      return failure();
    }
    iface = std::move(*parsed->getAsObject());
  }
  if (!iface.getString("name"))
    iface["name"] = entry.getSymName().str();
  if (!iface.getArray("inputs")) {
    json::Array inputs;
    json::Object ranges;
    for (auto [i, t] : llvm::enumerate(args)) {
      auto type = cast<RankedTensorType>(t);
      json::Array dims;
      for (int64_t d = 0; d < type.getRank(); ++d) {
        if (!type.isDynamicDim(d)) {
          dims.push_back(type.getDimSize(d));
          continue;
        }
        std::string sym = "a" + std::to_string(i) + "d" + std::to_string(d);
        dims.push_back(sym);
        ranges[sym] = json::Array{0, nullptr};
      }
      inputs.push_back(json::Object{{"name", "arg" + std::to_string(i)},
                                    {"dtype", dtypeName(type.getElementType())},
                                    {"dims", std::move(dims)}});
    }
    iface["inputs"] = std::move(inputs);
    iface["ranges"] = std::move(ranges);
  }
  const json::Array *names = iface.getArray("output_names");
  json::Array outputs;
  for (auto [i, t] : llvm::enumerate(results)) {
    auto type = cast<RankedTensorType>(t);
    std::string name = "output" + std::to_string(i);
    if (names && i < names->size() && (*names)[i].getAsString())
      name = (*names)[i].getAsString()->str();
    outputs.push_back(json::Object{{"name", name},
                                   {"dtype", dtypeName(type.getElementType())},
                                   {"rank", type.getRank()}});
  }
  iface["outputs"] = std::move(outputs);
  json::Array checks;
  if (auto attr = entry->getAttrOfType<ArrayAttr>("dq.checks"))
    for (Attribute a : attr)
      checks.push_back(cast<StringAttr>(a).getValue().str());
  iface["checks"] = std::move(checks);
  return iface;
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  dq::registerAllPasses();
  cl::ParseCommandLineOptions(argc, argv, "dq/linalg MLIR -> saved model directory\n");
  json::Object timings;

  FailureOr<dq::TargetLevel> target = dq::resolveTargetLevel(targetName);
  if (failed(target))
    return fail("unknown target '" + targetName + "'; one of: " +
                llvm::join(dq::targetLevelNames(), ", "));
  if (!kernelName.empty()) {
    std::optional<dq::KernelMode> kernel = dq::parseKernelMode(kernelName);
    if (!kernel || *kernel == dq::KernelMode::Auto)
      return fail("unknown kernel '" + kernelName +
                  "'; one of: amx, vnni, avx2, generic");
    target->kernel = kernelName;
  }

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  dq::registerAllDialects(registry);
  MLIRContext context(registry);
  context.disableMultithreading(); // one core per compile; see the README

  auto start = Clock::now();
  llvm::SourceMgr sourceMgr;
  std::string error;
  auto file = openInputFile(input, &error);
  if (!file)
    return fail(error);
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return fail("cannot parse " + input);
  timings["parse"] = seconds(start);

  auto entry = module->lookupSymbol<func::FuncOp>(entryName);
  if (!entry)
    return fail("no func.func @" + entryName);
  entry->setAttr("llvm.emit_c_interface", UnitAttr::get(&context));

  start = Clock::now();
  {
    PassManager pm(&context);
    pm.addPass(dq::createDQRuntimeChecks());
    if (failed(pm.run(*module)))
      return fail("dq-runtime-checks failed");
  }
  SmallVector<Type> args(entry.getArgumentTypes());
  // What the library returns: not the status (last, with dq.checks), not
  // state the step writes into its arguments (dq.state: dq-bind-state).
  SmallVector<Type> results;
  bool status = entry->hasAttr("dq.checks");
  for (unsigned i = 0, e = entry.getNumResults() - (status ? 1 : 0); i < e; ++i)
    if (!entry.getResultAttr(i, "dq.state"))
      results.push_back(entry.getResultTypes()[i]);
  FailureOr<json::Object> iface = makeInterface(entry, args, results);
  if (failed(iface))
    return fail("cannot read --interface " + interfacePath);

  {
    PassManager pm(&context);
    dq::CPUPipelineOptions options;
    options.threads = threads;
    options.bufferCache = true;
    options.outlineLayers = outlineLayers;
    options.profile = profile;
    // The level's kernel name or a checked --kernel.
    options.kernel = *dq::parseKernelMode(target->kernel);
    dq::buildCPUPipeline(pm, options);
    if (failed(pm.run(*module)))
      return fail("dq-cpu-pipeline failed");
  }
  timings["lower"] = seconds(start);
  if (!emitLLVMDialect.empty()) {
    std::string text;
    llvm::raw_string_ostream os(text);
    module->print(os, OpPrintingFlags().elideLargeElementsAttrs(16));
    if (!writeFile(emitLLVMDialect, text))
      return fail("cannot write " + emitLLVMDialect);
  }

  start = Clock::now();
  std::string weights;
  if (failed(dq::externalizeWeights(*module, minWeightBytes, weights)))
    return fail("cannot move the weights out of the code");
  std::string interfaceText;
  llvm::raw_string_ostream(interfaceText) << json::Value(std::move(*iface));
  uint32_t interfaceCRC =
      dqmlirCRC32C(0, interfaceText.data(), interfaceText.size());
  if (failed(dq::addEntryPoint(*module, entryName, interfaceCRC)))
    return fail("cannot add the entry point");
  std::string object, llvmIR;
  if (failed(dq::emitObject(*module, *target, optLevel, object,
                            emitLLVMIR.empty() ? nullptr : &llvmIR)))
    return fail("code generation failed");
  timings["codegen"] = seconds(start);
  if (!emitLLVMIR.empty() && !writeFile(emitLLVMIR, llvmIR))
    return fail("cannot write " + emitLLVMIR);

  start = Clock::now();
  if (std::error_code ec = llvm::sys::fs::create_directories(outDir))
    return fail("cannot create " + outDir + ": " + ec.message());
  SmallString<256> objectPath(outDir), libraryPath(outDir);
  llvm::sys::path::append(objectPath, "model.o");
  llvm::sys::path::append(libraryPath, "model.so");
  if (!writeFile(objectPath, object))
    return fail("cannot write " + objectPath);
  std::string rtDir = runtimeDir;
  if (rtDir.empty()) {
    SmallString<256> self(llvm::sys::fs::getMainExecutable(argv[0], (void *)&main));
    llvm::sys::path::remove_filename(self);
    llvm::sys::path::append(self, "..", "lib");
    rtDir = std::string(self);
  }
  const char *cc = std::getenv("CC");
  llvm::ErrorOr<std::string> ccPath = llvm::sys::findProgramByName(cc && *cc ? cc : "cc");
  if (!ccPath)
    return fail("no C compiler driver to link with (cc, or $CC)");
  std::string libFlag = "-L" + rtDir;
  SmallVector<StringRef> link = {*ccPath, "-shared", "-o", libraryPath,
                                 objectPath, libFlag, "-ldqmlir_runtime", "-lm",
                                 "-Wl,--no-undefined", "-Wl,-z,noexecstack"};
  std::string linkError;
  if (llvm::sys::ExecuteAndWait(*ccPath, link, std::nullopt, {}, 0, 0,
                                &linkError) != 0)
    return fail("linking " + libraryPath + " failed" +
                (linkError.empty() ? "" : ": " + linkError));
  llvm::sys::fs::remove(objectPath);
  auto library = llvm::MemoryBuffer::getFile(libraryPath);
  if (!library)
    return fail("cannot read back " + libraryPath);
  timings["link"] = seconds(start);

  auto writeInDir = [&](StringRef name, StringRef data) {
    SmallString<256> path(outDir);
    llvm::sys::path::append(path, name);
    return writeFile(path, data);
  };
  if (!writeInDir("weights.bin", weights) ||
      !writeInDir("interface.json", interfaceText))
    return fail("cannot write the model files");
  json::Array features;
  for (const std::string &f : target->features)
    features.push_back(f);
  json::Object manifest{
      {"format", "dqmlir-model"},
      {"format_version", 1},
      {"dqmlir_version", DQMLIR_VERSION},
      {"target", json::Object{{"name", target->name},
                              {"cpu", target->cpu},
                              {"tune", target->tune},
                              {"features", std::move(features)},
                              {"kernel", target->kernel}}},
      {"threads", threads.getValue()},
      {"entry", entryName.getValue()},
      {"status_result", status},
      {"files", json::Object{{"model.so", fileEntry((*library)->getBuffer())},
                             {"weights.bin", fileEntry(weights)},
                             {"interface.json", fileEntry(interfaceText)}}},
      {"compile_seconds", std::move(timings)},
  };
  if (profile) {
    json::Array kinds;
    for (const char *name : dq::profileKindNames())
      kinds.push_back(name);
    manifest["profile"] = std::move(kinds);
    // [kind, label] per tick id (dq-profile-ops).
    json::Array entries;
    if (auto table = (*module)->getAttrOfType<ArrayAttr>("dq.profile_ops"))
      for (Attribute a : table) {
        auto pair = cast<ArrayAttr>(a);
        entries.push_back(json::Array{cast<IntegerAttr>(pair[0]).getInt(),
                                      cast<StringAttr>(pair[1]).getValue()});
      }
    manifest["profile_ops"] = std::move(entries);
  }
  std::string manifestText;
  llvm::raw_string_ostream(manifestText)
      << llvm::formatv("{0:2}", json::Value(std::move(manifest)));
  if (!writeInDir("manifest.json", manifestText))
    return fail("cannot write manifest.json");
  return 0;
}
