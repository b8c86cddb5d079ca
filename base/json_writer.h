// A small append-only JSON writer (the gateway's messages, the tools' requests, the inventory read
// from NetBox). Output only: parsing is simdjson's job. Always valid UTF-8 JSON. Not thread-safe;
// one writer per message.
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
  JsonWriter& Null() { Separate(); out_ += "null"; return *this; }
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

  // Escapes `s` as the body of a JSON string. Valid UTF-8 passes through as it is (JSON text is
  // UTF-8); control characters are escaped; every byte that is not part of a valid UTF-8 sequence
  // becomes U+FFFD, so the output is always valid UTF-8 JSON.
  static void AppendEscaped(std::string& out, std::string_view s) {
    static const char* kHex = "0123456789abcdef";
    size_t i = 0;
    while (i < s.size()) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c >= 0x80) {
        const size_t len = Utf8Length(s, i);
        if (len == 0) {
          out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
          ++i;
        } else {
          out.append(s.data() + i, len);
          i += len;
        }
        continue;
      }
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
    }
  }

  // Length of the valid UTF-8 sequence that starts at s[i] (a byte >= 0x80), 0 if there is none:
  // no overlong forms, no surrogates, nothing above U+10FFFF.
  static size_t Utf8Length(std::string_view s, size_t i) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char c = b(0);
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return 0;
    }
    if (i + len > s.size() || b(1) < lo || b(1) > hi) return 0;
    for (size_t k = 2; k < len; ++k) {
      if (b(k) < 0x80 || b(k) > 0xbf) return 0;
    }
    return len;
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
