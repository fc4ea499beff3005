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

template <typename T>
class H5Rows;  // io/h5_rows.hpp
using H5RowWriter = H5Rows<double>;
using H5LongRowWriter = H5Rows<long>;

// The time now as ISO 8601 UTC ("2026-11-25T10:00:00Z"), for the files' created_utc attribute.
std::string utc_now();

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
  // An extendable rows × columns dataset written block by block (io/h5_rows.hpp): `columns` names the columns
  // (attribute `columns`), chunks of chunk_rows rows, deflate level 1 with shuffle when `compress`.
  H5RowWriter create_rows(std::string_view name, std::span<const std::string> columns, std::string_view units,
                          std::size_t chunk_rows = 1024, bool compress = true) const;
  // The same for long integers (status codes, IDs); rows not yet written read as `fill`.
  H5LongRowWriter create_long_rows(std::string_view name, std::span<const std::string> columns,
                                   std::string_view units, std::size_t chunk_rows = 1024, bool compress = true,
                                   long fill = -1) const;

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
  // A file that stays readable if the process dies while it is written (HDF5 single-writer/multiple-reader,
  // SWMR; latest file format): create every group, dataset (create_rows) and attribute, call start_streaming(),
  // then append and flush() after each batch. HDF5 1.10 does not support creating objects or attributes
  // after start_streaming() (they would not be crash-safe): create them all first.
  // A file whose writer was killed opens with H5Reader, h5py.File(path, "r", swmr=True), or after
  // `h5clear -s FILE`. See io/h5_rows.hpp for what a reader can trust.
  static H5File create_streaming(const std::filesystem::path& path);
  static H5Handle compact_access();  // object headers of HDF5 1.8+: faster to write many small objects
  void start_streaming();
  void flush() const;  // everything written so far, to the operating system (not fsync)
  [[nodiscard]] H5Group root() const;
  void close();  // flushes and closes; throws OutputError on failure

 private:
  H5File(const std::filesystem::path& path, hid_t access);
  H5Handle file_;
  std::string name_;
};

}  // namespace cartpk::io
