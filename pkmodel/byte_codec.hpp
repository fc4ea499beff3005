#pragma once
// Flat binary encoding of results for the trip between MPI ranks (same build, same machine type on both ends):
// trivially copyable values and vectors of them, written and read back in the same order.
#include <Eigen/Dense>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace cartpk {

class ByteWriter {
 public:
  template <class T>
  void put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    append(&value, sizeof(T));
  }
  // A count, then the values (what get_vector reads back); from any contiguous values, without a copy.
  template <class T>
  void put_span(std::span<const T> values) {
    static_assert(std::is_trivially_copyable_v<T>);
    put(values.size());
    append(values.data(), values.size() * sizeof(T));
  }
  template <class T>
  void put_vector(const std::vector<T>& values) { put_span(std::span<const T>(values)); }
  void put_string(const std::string& text) { put_span(std::span<const char>(text.data(), text.size())); }
  void put_bytes(const std::vector<std::byte>& raw) { append(raw.data(), raw.size()); }  // no length prefix
  // Unsigned words as LEB128 varints (7 bits a byte): small counts, as most of a sketch's, take one byte, not 8.
  void put_varints(const std::vector<std::uint64_t>& words) {
    put(words.size());
    for (std::uint64_t w : words) {
      for (; w >= 0x80; w >>= 7) bytes_.push_back(static_cast<std::byte>((w & 0x7F) | 0x80));
      bytes_.push_back(static_cast<std::byte>(w));
    }
  }
  void put_matrix(const Eigen::MatrixXd& m) {
    put(static_cast<long>(m.rows()));
    put(static_cast<long>(m.cols()));
    put_span(std::span<const double>(m.data(), static_cast<std::size_t>(m.size())));
  }
  [[nodiscard]] const std::vector<std::byte>& bytes() const { return bytes_; }
  std::vector<std::byte>& bytes() { return bytes_; }

 private:
  void append(const void* data, std::size_t n) {
    if (n == 0) return;
    const std::size_t at = bytes_.size();
    bytes_.resize(at + n);
    std::memcpy(bytes_.data() + at, data, n);
  }
  std::vector<std::byte> bytes_;
};

class ByteReader {
 public:
  explicit ByteReader(const std::vector<std::byte>& bytes) : bytes_(bytes) {}
  template <class T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    take(&value, sizeof(T));
    return value;
  }
  template <class T>
  std::vector<T> get_vector() {
    const auto n = get<std::size_t>();
    if (n > (bytes_.size() - at_) / sizeof(T)) throw std::runtime_error("ByteReader: truncated message");
    std::vector<T> values(n);
    take(values.data(), n * sizeof(T));
    return values;
  }
  std::vector<std::uint64_t> get_varints() {
    const auto n = get<std::size_t>();
    if (n > bytes_.size() - at_) throw std::runtime_error("ByteReader: truncated message");  // ≥ 1 byte each
    std::vector<std::uint64_t> words(n);
    for (auto& w : words) {
      w = 0;
      for (int shift = 0;; shift += 7) {
        if (at_ >= bytes_.size() || shift > 63) throw std::runtime_error("ByteReader: truncated or bad varint");
        const auto b = static_cast<std::uint64_t>(bytes_[at_++]);
        w |= (b & 0x7F) << shift;
        if (b < 0x80) break;
      }
    }
    return words;
  }
  Eigen::MatrixXd get_matrix() {
    const auto rows = get<long>(), cols = get<long>();
    const auto data = get_vector<double>();
    if (data.size() != static_cast<std::size_t>(rows * cols)) throw std::runtime_error("ByteReader: bad matrix");
    return Eigen::Map<const Eigen::MatrixXd>(data.data(), rows, cols);
  }
  std::string get_string() {
    const auto n = get<std::size_t>();
    if (n > bytes_.size() - at_) throw std::runtime_error("ByteReader: truncated message");
    std::string text(reinterpret_cast<const char*>(bytes_.data() + at_), n);
    at_ += n;
    return text;
  }
  [[nodiscard]] bool done() const { return at_ == bytes_.size(); }

 private:
  void take(void* out, std::size_t n) {
    if (n > bytes_.size() - at_) throw std::runtime_error("ByteReader: truncated message");
    if (n > 0) std::memcpy(out, bytes_.data() + at_, n);
    at_ += n;
  }
  const std::vector<std::byte>& bytes_;
  std::size_t at_ = 0;
};

}  // namespace cartpk
