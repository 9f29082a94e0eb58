//===- InputChecks.cpp - inputs against a model's signature ---------------===//
//
// What python/dqmlir/signature.py checks of tensors, for callers of the C
// API (and with the same messages): dtype, rank, static sizes, sizes export
// tied to one symbol, sizes that are expressions of symbols (evaluated, or
// solved when linear in one unknown symbol), and the symbols' ranges. A
// model's code only ever sees inputs that pass; what these checks cannot
// decide (data-dependent indices) the code checks itself (dq-runtime-checks).
//
//===----------------------------------------------------------------------===//

#include "lib/Runtime/Model.h"

#include <map>
#include <optional>
#include <set>

using namespace dqmlir::runtime;
using dqmlir::json::Value;

namespace {
// Export assumes dynamic sizes >= 2; only larger lower bounds are the
// model's own (see signature.py).
constexpr int64_t kSpecializationBound = 2;

std::string shapeString(const dqmlir_tensor &t) {
  std::string s = "[";
  for (int d = 0; d < t.rank; ++d)
    s += (d ? ", " : "") + std::to_string(t.shape[d]);
  return s + "]";
}

std::string describe(const Input &in) {
  std::string s = std::string(dqmlir_dtype_name(in.dtype)) + "[";
  for (size_t d = 0; d < in.dims.size(); ++d)
    s += (d ? ", " : "") + (in.dims[d].kind == Value::Int
                                ? std::to_string(in.dims[d].i)
                                : std::string("?"));
  return s + "]";
}

void symbols(const Value &tree, std::set<std::string> &out) {
  if (tree.kind == Value::String)
    out.insert(tree.s);
  else if (tree.kind == Value::Array)
    for (size_t i = 1; i < tree.array.size(); ++i)
      symbols(tree.array[i], out);
}

/// The value of a size expression, or nullopt if a symbol is unknown.
std::optional<int64_t> evaluate(const Value &tree,
                                const std::map<std::string, int64_t> &env) {
  if (tree.kind == Value::Int)
    return tree.i;
  if (tree.kind == Value::String) {
    auto it = env.find(tree.s);
    return it == env.end() ? std::nullopt : std::optional<int64_t>(it->second);
  }
  if (tree.kind != Value::Array || tree.array.empty())
    return std::nullopt;
  const std::string &op = tree.array[0].s;
  std::vector<int64_t> args;
  for (size_t i = 1; i < tree.array.size(); ++i) {
    std::optional<int64_t> v = evaluate(tree.array[i], env);
    if (!v)
      return std::nullopt;
    args.push_back(*v);
  }
  if (args.empty())
    return std::nullopt;
  int64_t r = args[0];
  for (size_t i = 1; i < args.size(); ++i) {
    int64_t a = args[i];
    if (op == "+")
      r += a;
    else if (op == "*")
      r *= a;
    else if (op == "max")
      r = std::max(r, a);
    else if (op == "min")
      r = std::min(r, a);
    else if (op == "//") // Python's floor division
      r = a ? (r / a - ((r % a != 0) && ((r < 0) != (a < 0)))) : 0;
    else if (op == "%")
      r = a ? ((r % a) + a) % a : 0;
    else
      return std::nullopt;
  }
  return r;
}

std::string show(const Value &tree) {
  if (tree.kind == Value::Int)
    return std::to_string(tree.i);
  if (tree.kind == Value::String)
    return tree.s;
  std::string op = tree.array[0].s, s;
  for (size_t i = 1; i < tree.array.size(); ++i)
    s += (i > 1 ? (op == "max" || op == "min" ? ", " : " " + op + " ") : "") +
         show(tree.array[i]);
  return op == "max" || op == "min" ? op + "(" + s + ")" : "(" + s + ")";
}

struct Checker {
  const Model &model;
  std::map<std::string, int64_t> env;
  std::map<std::string, std::pair<std::string, int>> firstSeen;

  std::string prefix() const { return model.name + "(): argument '"; }

  dqmlir_status range(const std::string &sym, int64_t got,
                      const std::string &path, int d) {
    for (auto &[name, bounds] : model.ranges) {
      if (name != sym)
        continue;
      if (bounds.second >= 0 && got > bounds.second)
        return fail(DQMLIR_ERROR_VALUE,
                    prefix() + path + "' dim " + std::to_string(d) + " is " +
                        std::to_string(got) +
                        "; the model supports at most " +
                        std::to_string(bounds.second) + " there");
      auto least = model.minSizes.find(sym);
      if (least != model.minSizes.end() && got < least->second.min &&
          bounds.first <= kSpecializationBound) {
        const Model::MinSize &m = least->second;
        std::string at = prefix() + path + "' dim " + std::to_string(d) +
                         " is " + std::to_string(got);
        if (!m.errorName.empty())
          return fail(m.error, at + ": the exported program raises " +
                                   m.errorName + " at this size (" + m.why +
                                   ")");
        return fail(DQMLIR_ERROR_VALUE,
                    at + "; the compiled model needs at least " +
                        std::to_string(m.min) +
                        " there (torch.export's program assumes larger "
                        "sizes: " + m.why + ")");
      }
      if (bounds.first > kSpecializationBound && got < bounds.first)
        return fail(DQMLIR_ERROR_VALUE,
                    prefix() + path + "' dim " + std::to_string(d) + " is " +
                        std::to_string(got) + "; the model needs at least " +
                        std::to_string(bounds.first) + " there");
    }
    return DQMLIR_OK;
  }

  dqmlir_status tensor(const Input &in, const dqmlir_tensor &t) {
    const std::string &path = in.name;
    if (t.dtype != in.dtype)
      return fail(DQMLIR_ERROR_TYPE,
                  prefix() + path + "' must have dtype " +
                      dqmlir_dtype_name(in.dtype) + ", got " +
                      dqmlir_dtype_name(t.dtype));
    if (t.rank != int(in.dims.size()) || t.rank > DQMLIR_MAX_RANK ||
        t.rank < 0)
      return fail(DQMLIR_ERROR_VALUE,
                  prefix() + path + "' must have " +
                      std::to_string(in.dims.size()) + " dims (" +
                      describe(in) + "), got shape " + shapeString(t));
    if (!t.data && t.rank) {
      int64_t n = 1;
      for (int d = 0; d < t.rank; ++d)
        n *= t.shape[d];
      if (n)
        return fail(DQMLIR_ERROR_VALUE, prefix() + path + "' has no data");
    }
    for (int d = 0; d < t.rank; ++d) {
      int64_t got = t.shape[d];
      if (got < 0)
        return fail(DQMLIR_ERROR_VALUE, prefix() + path + "' dim " +
                                            std::to_string(d) + " is negative");
      const Value &spec = in.dims[d];
      if (spec.kind == Value::Int) {
        if (got != spec.i)
          return fail(DQMLIR_ERROR_VALUE,
                      prefix() + path + "' dim " + std::to_string(d) +
                          " must be " + std::to_string(spec.i) + ", got " +
                          std::to_string(got) + " (shape " + shapeString(t) +
                          ")");
      } else if (spec.kind == Value::String) {
        auto it = env.find(spec.s);
        if (it == env.end()) {
          if (dqmlir_status s = range(spec.s, got, path, d))
            return s;
          env[spec.s] = got;
          firstSeen[spec.s] = {path, d};
        } else if (it->second != got) {
          auto &[other, od] = firstSeen[spec.s];
          return fail(DQMLIR_ERROR_VALUE,
                      prefix() + path + "' dim " + std::to_string(d) + " is " +
                          std::to_string(got) + " but must equal argument '" +
                          other + "' dim " + std::to_string(od) + " (" +
                          std::to_string(it->second) +
                          "), as in the exported model");
        }
      }
    }
    return DQMLIR_OK;
  }

  /// Expression sizes, once their symbols are known (or solvable).
  dqmlir_status expressions(const dqmlir_tensor *inputs) {
    struct Pending {
      size_t input;
      int dim;
    };
    std::vector<Pending> pending;
    for (size_t i = 0; i < model.inputs.size(); ++i)
      for (size_t d = 0; d < model.inputs[i].dims.size(); ++d)
        if (model.inputs[i].dims[d].kind == Value::Array)
          pending.push_back({i, int(d)});
    while (!pending.empty()) {
      std::vector<Pending> rest;
      bool progress = false;
      for (Pending p : pending) {
        const Input &in = model.inputs[p.input];
        const Value &spec = in.dims[p.dim];
        int64_t got = inputs[p.input].shape[p.dim];
        std::set<std::string> syms;
        symbols(spec, syms);
        std::vector<std::string> unknown;
        for (const std::string &s : syms)
          if (!env.count(s))
            unknown.push_back(s);
        if (unknown.empty()) {
          int64_t want = *evaluate(spec, env);
          if (want != got) {
            std::string with;
            for (const std::string &s : syms)
              with += (with.empty() ? "" : ", ") + s + " = " +
                      std::to_string(env[s]);
            return fail(DQMLIR_ERROR_VALUE,
                        prefix() + in.name + "' dim " + std::to_string(p.dim) +
                            " is " + std::to_string(got) +
                            " but the exported model needs " +
                            std::to_string(want) + " there (" + show(spec) +
                            " with " + with + ")");
          }
          progress = true;
          continue;
        }
        if (unknown.size() != 1) {
          rest.push_back(p);
          continue;
        }
        // a * s + b in the one unknown symbol s.
        const std::string &s = unknown[0];
        auto at = [&](int64_t v) {
          auto e = env;
          e[s] = v;
          return evaluate(spec, e);
        };
        std::optional<int64_t> b = at(0), a1 = at(1), a2 = at(2);
        if (!b || !a1 || !a2 || *a1 - *b == 0 || *a2 - *b != 2 * (*a1 - *b)) {
          rest.push_back(p);
          continue;
        }
        int64_t a = *a1 - *b;
        if ((got - *b) % a)
          return fail(DQMLIR_ERROR_VALUE,
                      prefix() + in.name + "' dim " + std::to_string(p.dim) +
                          " is " + std::to_string(got) +
                          ", which is not of the form " + show(spec));
        int64_t value = (got - *b) / a;
        if (dqmlir_status st = range(s, value, in.name, p.dim))
          return st;
        env[s] = value;
        progress = true;
      }
      if (!progress)
        return DQMLIR_OK; // left to the code's own checks
      pending = std::move(rest);
    }
    return DQMLIR_OK;
  }
};
} // namespace

dqmlir_status dqmlir::runtime::checkInputs(const Model &model,
                                           const dqmlir_tensor *inputs,
                                           int numInputs) {
  if (numInputs != int(model.inputs.size()) || (numInputs && !inputs))
    return fail(DQMLIR_ERROR_TYPE,
                model.name + "() takes " + std::to_string(model.inputs.size()) +
                    " tensors, got " + std::to_string(numInputs));
  Checker c{model, {}, {}};
  for (int i = 0; i < numInputs; ++i)
    if (dqmlir_status s = c.tensor(model.inputs[i], inputs[i]))
      return s;
  return c.expressions(inputs);
}
