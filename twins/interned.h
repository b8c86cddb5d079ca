// Interned: a string kept once for the whole process, for names that thousands of twins repeat
// (the datacenter, a rack's 40 servers). A holder keeps a pointer, 8 bytes, instead of its own
// copy, 32. Two Interned are equal exactly when their strings are. Stored (cereal) as the
// string itself.
//
// The pool only grows: it holds every rack name seen since the start, a few thousand at most
// for a site, never one per report.
//
// Threads: any; making one from a string takes a process-wide lock, copying and reading do not.
#pragma once

#include <string>
#include <string_view>

namespace dctwin {

class Interned {
 public:
  Interned();  // the empty string
  explicit Interned(std::string_view s);

  const std::string& str() const { return *s_; }
  bool empty() const { return s_->empty(); }
  friend bool operator==(const Interned& a, const Interned& b) { return a.s_ == b.s_; }
  friend bool operator!=(const Interned& a, const Interned& b) { return a.s_ != b.s_; }

  template <class Archive>
  std::string save_minimal(const Archive&) const {
    return *s_;
  }
  template <class Archive>
  void load_minimal(const Archive&, const std::string& s) {
    *this = Interned(s);
  }

 private:
  const std::string* s_;
};

}  // namespace dctwin
