// BoundedBinaryInputArchive: reads what cereal::BinaryOutputArchive wrote, straight from memory,
// and refuses any container size larger than the bytes that are left. cereal's own binary input
// archive resizes a string or vector to whatever size the bytes claim before reading it, so one
// damaged row could ask for exabytes; here a damaged row is only a decode error.
//
// Not thread-safe; one archive per decode.
#pragma once

#include <cereal/archives/binary.hpp>
#include <cereal/cereal.hpp>

#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace dctwin {

class BoundedBinaryInputArchive
    : public cereal::InputArchive<BoundedBinaryInputArchive, cereal::AllowEmptyClassElision> {
 public:
  explicit BoundedBinaryInputArchive(std::string_view bytes)
      : cereal::InputArchive<BoundedBinaryInputArchive, cereal::AllowEmptyClassElision>(this), bytes_(bytes) {}

  void LoadBinary(void* data, size_t size) {
    if (size > remaining()) {
      throw cereal::Exception("truncated: " + std::to_string(size) + " bytes wanted, " + std::to_string(remaining()) +
                              " left");
    }
    if (size == 0) return;  // an empty container's data() may be null: memcpy must not see it
    std::memcpy(data, bytes_.data() + pos_, size);
    pos_ += size;
  }
  size_t remaining() const { return bytes_.size() - pos_; }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

template <class T>
inline std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_LOAD_FUNCTION_NAME(BoundedBinaryInputArchive& ar, T& t) {
  ar.LoadBinary(std::addressof(t), sizeof(t));
}

template <class T>
inline void CEREAL_LOAD_FUNCTION_NAME(BoundedBinaryInputArchive& ar, cereal::NameValuePair<T>& t) {
  ar(t.value);
}

// Every element takes at least one byte, so a size larger than what is left is damage.
template <class T>
inline void CEREAL_LOAD_FUNCTION_NAME(BoundedBinaryInputArchive& ar, cereal::SizeTag<T>& t) {
  ar(t.size);
  if (static_cast<unsigned long long>(t.size) > ar.remaining()) {
    throw cereal::Exception("a size of " + std::to_string(static_cast<unsigned long long>(t.size)) + " with " +
                            std::to_string(ar.remaining()) + " bytes left");
  }
}

template <class T>
inline void CEREAL_LOAD_FUNCTION_NAME(BoundedBinaryInputArchive& ar, cereal::BinaryData<T>& bd) {
  ar.LoadBinary(bd.data, static_cast<size_t>(bd.size));
}

}  // namespace dctwin

CEREAL_REGISTER_ARCHIVE(dctwin::BoundedBinaryInputArchive)

// Its output side is cereal's binary output archive. (Only this direction: the reverse belongs to
// cereal::BinaryInputArchive, so CEREAL_SETUP_ARCHIVE_TRAITS cannot be used.)
namespace cereal::traits::detail {
template <>
struct get_output_from_input<dctwin::BoundedBinaryInputArchive> {
  using type = cereal::BinaryOutputArchive;
};
}  // namespace cereal::traits::detail
