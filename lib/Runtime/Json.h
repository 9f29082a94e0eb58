//===- Json.h - the JSON the runtime reads (manifests) ----------*- C++ -*-===//
//
// A small JSON reader for model manifests: the runtime links neither LLVM
// (whose llvm::json would do) nor a JSON library. Numbers are kept as
// int64 when they are integers, else as double.
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_RUNTIME_JSON_H
#define DQMLIR_RUNTIME_JSON_H

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dqmlir::json {

struct Value {
  enum Kind { Null, Bool, Int, Double, String, Array, Object } kind = Null;
  bool b = false;
  int64_t i = 0;
  double d = 0;
  std::string s;
  std::vector<Value> array;
  std::map<std::string, Value> object;

  bool isNull() const { return kind == Null; }
  /// The member `key` of an object (a null value if absent).
  const Value &operator[](const std::string &key) const;
  const Value &operator[](size_t index) const { return array.at(index); }
  size_t size() const { return kind == Array ? array.size() : object.size(); }
};

/// Parses `text`; false (with `error` saying where and why) on bad JSON.
bool parse(const std::string &text, Value &out, std::string &error);

} // namespace dqmlir::json

#endif // DQMLIR_RUNTIME_JSON_H
