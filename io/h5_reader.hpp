#pragma once
// Reading back an HDF5 file cartpk (or h5py) wrote: whole datasets and attributes by path. Every failure is an
// InputError naming the object and the file. A streaming file whose writer was killed (SWMR flags still set)
// opens too, read-only.
#include <hdf5.h>

#include <Eigen/Dense>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "io/h5_file.hpp"

namespace cartpk::io {

class H5Reader {
 public:
  explicit H5Reader(const std::filesystem::path& path);  // InputError if missing or not HDF5

  [[nodiscard]] bool exists(std::string_view path) const;  // a group or dataset at this absolute path
  [[nodiscard]] std::vector<std::size_t> dims(std::string_view dataset) const;
  [[nodiscard]] std::vector<std::string> children(std::string_view group) const;  // member names
  // Numeric datasets of any integer or floating type, converted; any rank, flattened in row-major order.
  [[nodiscard]] std::vector<double> read_doubles(std::string_view dataset) const;
  [[nodiscard]] std::vector<long> read_longs(std::string_view dataset) const;
  [[nodiscard]] Eigen::MatrixXd read_matrix(std::string_view dataset) const;  // a 2-D dataset, rows × columns
  [[nodiscard]] std::vector<std::string> read_strings(std::string_view dataset) const;  // variable or fixed length

  // Attributes of the group or dataset at `object` ("/" for the root).
  [[nodiscard]] bool has_attribute(std::string_view object, std::string_view name) const;
  [[nodiscard]] std::string string_attribute(std::string_view object, std::string_view name) const;
  [[nodiscard]] std::vector<std::string> strings_attribute(std::string_view object, std::string_view name) const;
  [[nodiscard]] double double_attribute(std::string_view object, std::string_view name) const;
  [[nodiscard]] long long_attribute(std::string_view object, std::string_view name) const;

  [[nodiscard]] const std::string& file() const { return name_; }

 private:
  struct Source;  // an open dataset or attribute, and how to name it in messages
  [[nodiscard]] Source open_dataset(std::string_view dataset) const;
  [[nodiscard]] Source open_attribute(std::string_view object, std::string_view name) const;
  template <typename T>
  [[nodiscard]] std::vector<T> read_numbers(const Source& source, hid_t memory_type) const;
  [[nodiscard]] std::vector<std::string> read_text(const Source& source) const;
  [[noreturn]] void fail(std::string_view what, std::string_view object) const;

  H5Handle file_;
  std::string name_;
};

}  // namespace cartpk::io
