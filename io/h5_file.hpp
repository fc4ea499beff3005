#pragma once
// A small RAII layer over the HDF5 C API: every id is owned by a Handle that closes it, every failing call
// becomes an OutputError naming the object and the file. Strings are variable-length UTF-8.
#include <hdf5.h>

#include <Eigen/Dense>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cartpk::io {

class H5Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Handle() = default;
  H5Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  H5Handle(H5Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  H5Handle& operator=(H5Handle&& o) noexcept;
  ~H5Handle() { reset(); }
  [[nodiscard]] hid_t get() const { return id_; }
  herr_t reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

class H5Group {
 public:
  H5Group(H5Handle handle, std::string path, std::string file);
  H5Group subgroup(std::string_view name) const;  // creates it

  void write(std::string_view name, std::span<const double> values, std::string_view units) const;
  void write(std::string_view name, const Eigen::MatrixXd& values, std::string_view units) const;  // rows × cols
  void write(std::string_view name, std::span<const long> values) const;
  void write(std::string_view name, std::span<const std::string> values) const;

  void attribute(std::string_view name, std::string_view value) const;
  void attribute(std::string_view name, double value) const;
  void attribute(std::string_view name, long value) const;
  void attribute(std::string_view name, std::span<const std::string> values) const;
  // Attributes on a dataset of this group.
  void dataset_attribute(std::string_view dataset, std::string_view name, std::string_view value) const;
  void dataset_attribute(std::string_view dataset, std::string_view name, std::span<const std::string> values) const;

  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  void write_raw(std::string_view name, hid_t type, std::span<const hsize_t> dims, const void* data,
                 std::optional<std::string_view> units = std::nullopt) const;
  void attribute_raw(hid_t target, std::string_view name, hid_t type, std::span<const hsize_t> dims,
                     const void* data) const;
  [[noreturn]] void fail(std::string_view what, std::string_view name) const;

  H5Handle handle_;
  std::string path_;
  std::string file_;
};

class H5File {
 public:
  explicit H5File(const std::filesystem::path& path);  // creates (truncates)
  [[nodiscard]] H5Group root() const;
  void close();  // flushes and closes; throws OutputError on failure

 private:
  H5Handle file_;
  std::string name_;
};

}  // namespace cartpk::io
