// A small append-only JSON writer for the messages the gateway publishes. Output only: parsing is
// simdjson's job. Not thread-safe; one writer per message.
#pragma once

#include <charconv>
#include <cmath>
#include <string>
#include <string_view>

namespace dctwin {

class JsonWriter {
 public:
  JsonWriter& BeginObject() { Separate(); out_ += '{'; first_ = true; return *this; }
  JsonWriter& EndObject() { out_ += '}'; first_ = false; return *this; }
  JsonWriter& BeginArray() { Separate(); out_ += '['; first_ = true; return *this; }
  JsonWriter& EndArray() { out_ += ']'; first_ = false; return *this; }

  JsonWriter& Key(std::string_view key) {
    Separate();
    AppendString(key);
    out_ += ':';
    after_key_ = true;
    return *this;
  }
  JsonWriter& String(std::string_view s) { Separate(); AppendString(s); return *this; }
  JsonWriter& Bool(bool b) { Separate(); out_ += b ? "true" : "false"; return *this; }
  JsonWriter& Number(double v) {
    Separate();
    if (!std::isfinite(v)) {
      out_ += "null";
      return *this;
    }
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, res.ptr);
    return *this;
  }
  // A value that was stored as a float: printed with the shortest digits that read back as that
  // float (10.9, not 10.899999618530273).
  JsonWriter& Float(double v) {
    Separate();
    const auto f = static_cast<float>(v);
    if (!std::isfinite(f)) {
      out_ += "null";
      return *this;
    }
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof buf, f);
    out_.append(buf, res.ptr);
    return *this;
  }
  JsonWriter& Int(long long v) {
    Separate();
    char buf[24];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, res.ptr);
    return *this;
  }

  // Shorthands for "key": value.
  JsonWriter& Field(std::string_view key, std::string_view v) { return Key(key).String(v); }
  JsonWriter& Field(std::string_view key, const char* v) { return Key(key).String(v); }
  JsonWriter& Field(std::string_view key, double v) { return Key(key).Number(v); }
  JsonWriter& Field(std::string_view key, bool v) { return Key(key).Bool(v); }
  JsonWriter& IntField(std::string_view key, long long v) { return Key(key).Int(v); }

  const std::string& str() const { return out_; }
  std::string Take() { return std::move(out_); }

  // Escapes `s` as the body of a JSON string; bytes that are not valid UTF-8 text become \u00XX.
  static void AppendEscaped(std::string& out, std::string_view s) {
    static const char* kHex = "0123456789abcdef";
    for (unsigned char c : s) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || c >= 0x7f) {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
          } else {
            out += static_cast<char>(c);
          }
      }
    }
  }

 private:
  void Separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_) out_ += ',';
    first_ = false;
  }
  void AppendString(std::string_view s) {
    out_ += '"';
    AppendEscaped(out_, s);
    out_ += '"';
  }

  std::string out_;
  bool first_ = true;
  bool after_key_ = false;
};

}  // namespace dctwin
