// Status: the outcome of an operation that can fail for expected reasons (a full disk, a busy or
// corrupt database). A value, not an exception. Thread-compatible.
#pragma once

#include <string>
#include <utility>

namespace dctwin {

class Status {
 public:
  enum class Code { kOk, kIoError, kBusy, kCorruption, kNotSupported, kInvalid };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status IoError(std::string msg) { return Status(Code::kIoError, std::move(msg)); }
  static Status Busy(std::string msg) { return Status(Code::kBusy, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status NotSupported(std::string msg) { return Status(Code::kNotSupported, std::move(msg)); }
  static Status Invalid(std::string msg) { return Status(Code::kInvalid, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}

  Code code_ = Code::kOk;
  std::string message_;
};

inline std::string Status::ToString() const {
  switch (code_) {
    case Code::kOk: return "OK";
    case Code::kIoError: return "I/O error: " + message_;
    case Code::kBusy: return "busy: " + message_;
    case Code::kCorruption: return "corruption: " + message_;
    case Code::kNotSupported: return "not supported: " + message_;
    case Code::kInvalid: return "invalid: " + message_;
  }
  return message_;
}

}  // namespace dctwin
