//===- Json.cpp - the JSON the runtime reads (manifests) ------------------===//

#include "lib/Runtime/Json.h"

#include <cstdlib>

using dqmlir::json::Value;

const Value &Value::operator[](const std::string &key) const {
  static const Value null;
  if (kind != Object)
    return null;
  auto it = object.find(key);
  return it == object.end() ? null : it->second;
}

namespace {
class Parser {
public:
  Parser(const std::string &text) : text(text) {}

  bool parse(Value &out, std::string &error) {
    bool ok = value(out, 0) && (skip(), pos == text.size());
    if (!ok)
      error = (why.empty() ? std::string("unexpected text") : why) +
              " at offset " + std::to_string(pos);
    return ok;
  }

private:
  const std::string &text;
  size_t pos = 0;
  std::string why;

  void skip() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\n' ||
                                 text[pos] == '\r' || text[pos] == '\t'))
      ++pos;
  }
  bool fail(const char *message) {
    why = message;
    return false;
  }
  bool literal(const char *word) {
    size_t n = std::char_traits<char>::length(word);
    if (text.compare(pos, n, word) != 0)
      return fail("bad literal");
    pos += n;
    return true;
  }

  bool value(Value &v, int depth) {
    if (depth > 64)
      return fail("nested too deeply");
    skip();
    if (pos >= text.size())
      return fail("unexpected end");
    char c = text[pos];
    if (c == '{')
      return object(v, depth);
    if (c == '[')
      return array(v, depth);
    if (c == '"') {
      v.kind = Value::String;
      return string(v.s);
    }
    if (c == 't' || c == 'f') {
      v.kind = Value::Bool;
      v.b = c == 't';
      return literal(v.b ? "true" : "false");
    }
    if (c == 'n') {
      v.kind = Value::Null;
      return literal("null");
    }
    return number(v);
  }

  bool object(Value &v, int depth) {
    v.kind = Value::Object;
    ++pos;
    skip();
    if (pos < text.size() && text[pos] == '}')
      return ++pos, true;
    while (true) {
      skip();
      std::string key;
      if (pos >= text.size() || text[pos] != '"' || !string(key))
        return fail("expected a key");
      skip();
      if (pos >= text.size() || text[pos++] != ':')
        return fail("expected ':'");
      if (!value(v.object[key], depth + 1))
        return false;
      skip();
      if (pos < text.size() && text[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < text.size() && text[pos] == '}')
        return ++pos, true;
      return fail("expected ',' or '}'");
    }
  }

  bool array(Value &v, int depth) {
    v.kind = Value::Array;
    ++pos;
    skip();
    if (pos < text.size() && text[pos] == ']')
      return ++pos, true;
    while (true) {
      v.array.emplace_back();
      if (!value(v.array.back(), depth + 1))
        return false;
      skip();
      if (pos < text.size() && text[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < text.size() && text[pos] == ']')
        return ++pos, true;
      return fail("expected ',' or ']'");
    }
  }

  bool string(std::string &out) {
    ++pos; // the opening quote
    while (pos < text.size() && text[pos] != '"') {
      char c = text[pos++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos >= text.size())
        return fail("unterminated string");
      char e = text[pos++];
      switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'u': {
        if (pos + 4 > text.size())
          return fail("bad \\u escape");
        unsigned code = std::strtoul(text.substr(pos, 4).c_str(), nullptr, 16);
        pos += 4;
        // Manifests are ASCII but for names: encode as UTF-8 (no surrogates).
        if (code < 0x80) {
          out += char(code);
        } else if (code < 0x800) {
          out += char(0xc0 | (code >> 6));
          out += char(0x80 | (code & 0x3f));
        } else {
          out += char(0xe0 | (code >> 12));
          out += char(0x80 | ((code >> 6) & 0x3f));
          out += char(0x80 | (code & 0x3f));
        }
        break;
      }
      default: out += e; break; // \" \\ \/
      }
    }
    if (pos >= text.size())
      return fail("unterminated string");
    ++pos;
    return true;
  }

  bool number(Value &v) {
    size_t start = pos;
    if (pos < text.size() && text[pos] == '-')
      ++pos;
    bool integer = true;
    while (pos < text.size()) {
      char c = text[pos];
      if (c >= '0' && c <= '9') {
        ++pos;
      } else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
        integer = false;
        ++pos;
      } else {
        break;
      }
    }
    std::string digits = text.substr(start, pos - start);
    if (digits.empty() || digits == "-")
      return fail("expected a value");
    char *end = nullptr;
    if (integer) {
      v.kind = Value::Int;
      v.i = std::strtoll(digits.c_str(), &end, 10);
      v.d = double(v.i);
    } else {
      v.kind = Value::Double;
      v.d = std::strtod(digits.c_str(), &end);
    }
    if (end != digits.c_str() + digits.size())
      return fail("bad number");
    return true;
  }
};
} // namespace

bool dqmlir::json::parse(const std::string &text, Value &out,
                         std::string &error) {
  return Parser(text).parse(out, error);
}
