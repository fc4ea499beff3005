#include "io/h5_rows.hpp"

#include "io/atomic_file.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

namespace cartpk::io {

namespace {
template <typename T>
hid_t native_type();
template <>
hid_t native_type<double>() {
  return H5T_NATIVE_DOUBLE;
}
template <>
hid_t native_type<long>() {
  return H5T_NATIVE_LONG;
}

H5Handle utf8_string_type() {
  H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  return type;
}

bool write_string_attribute(hid_t target, const char* name, std::span<const char* const> values, bool scalar) {
  const auto type = utf8_string_type();
  const hsize_t n[1] = {values.size()};
  H5Handle space(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, n, nullptr), H5Sclose);
  if (type.get() < 0 || space.get() < 0) return false;
  H5Handle attribute(H5Acreate2(target, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  return attribute.get() >= 0 && H5Awrite(attribute.get(), type.get(), values.data()) >= 0;
}

struct Extendable {
  H5Handle set;
  const char* failed = nullptr;  // what could not be done, when set is invalid
};

// A (0 × columns) dataset, unlimited rows, chunks of chunk_rows × columns, shuffle + deflate 1 if compress;
// attributes `units` and `columns`.
Extendable create_extendable(hid_t group, std::string_view name_view, hid_t type, std::span<const std::string> names,
                             std::string_view units, std::size_t chunk_rows, bool compress, const void* fill) {
  if (names.empty() || chunk_rows == 0)
    throw std::invalid_argument("HDF5 rows " + std::string(name_view) + ": need a column and a row per chunk");
  const std::string name(name_view);
  const std::size_t columns = names.size();
  const hsize_t dims[2] = {0, columns};
  const hsize_t max_dims[2] = {H5S_UNLIMITED, columns};
  const hsize_t chunk[2] = {chunk_rows, columns};
  H5Handle space(H5Screate_simple(2, dims, max_dims), H5Sclose);
  if (space.get() < 0) return {{}, "create dataspace for"};
  H5Handle create(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (create.get() < 0 || H5Pset_chunk(create.get(), 2, chunk) < 0 ||
      H5Pset_fill_value(create.get(), type, fill) < 0 ||
      (compress && (H5Pset_shuffle(create.get()) < 0 || H5Pset_deflate(create.get(), 1) < 0)))
    return {{}, "set chunking and compression for"};
  // The chunk cache must hold the chunk being filled (and the next, for a block across the boundary), or every
  // append reads, decompresses and rewrites it; fully written chunks leave the cache first (w0 = 1).
  const std::size_t chunk_bytes = chunk_rows * columns * H5Tget_size(type);
  H5Handle access(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose);
  if (access.get() < 0 ||
      H5Pset_chunk_cache(access.get(), 521, std::max<std::size_t>(std::size_t{1} << 20, 2 * chunk_bytes), 1.0) < 0)
    return {{}, "set the chunk cache for"};
  H5Handle set(H5Dcreate2(group, name.c_str(), type, space.get(), H5P_DEFAULT, create.get(), access.get()),
               H5Dclose);
  if (set.get() < 0) return {{}, "create dataset"};
  const std::string u(units);
  const char* unit[1] = {u.c_str()};
  if (!write_string_attribute(set.get(), "units", unit, true)) return {{}, "write the units of"};
  std::vector<const char*> column_names;
  for (const auto& c : names) column_names.push_back(c.c_str());
  if (!write_string_attribute(set.get(), "columns", column_names, false)) return {{}, "write the column names of"};
  return {std::move(set), nullptr};
}

}  // namespace

H5RowWriter H5Group::create_rows(std::string_view name, std::span<const std::string> columns,
                                 std::string_view units, std::size_t chunk_rows, bool compress) const {
  const double fill = std::numeric_limits<double>::quiet_NaN();
  auto made = create_extendable(handle_.get(), name, H5T_NATIVE_DOUBLE, columns, units, chunk_rows, compress, &fill);
  if (made.failed) fail(made.failed, name);
  return {std::move(made.set), columns.size(), (path_ == "/" ? "" : path_) + "/" + std::string(name), file_};
}

H5LongRowWriter H5Group::create_long_rows(std::string_view name, std::span<const std::string> columns,
                                          std::string_view units, std::size_t chunk_rows, bool compress,
                                          long fill) const {
  auto made = create_extendable(handle_.get(), name, H5T_NATIVE_LONG, columns, units, chunk_rows, compress, &fill);
  if (made.failed) fail(made.failed, name);
  return {std::move(made.set), columns.size(), (path_ == "/" ? "" : path_) + "/" + std::string(name), file_};
}

template <typename T>
H5Rows<T>::H5Rows(H5Handle set, std::size_t columns, std::string path, std::string file)
    : set_(std::move(set)), columns_(columns), path_(std::move(path)), file_(std::move(file)) {}

template <typename T>
void H5Rows<T>::fail(std::string_view what) const {
  throw OutputError("HDF5: could not " + std::string(what) + " " + path_ + " in " + file_);
}

template <typename T>
void H5Rows<T>::append(std::span<const T> rows_row_major) {
  if (rows_row_major.size() % columns_ != 0)
    throw std::invalid_argument("HDF5 rows " + path_ + ": " + std::to_string(rows_row_major.size()) +
                                " values are not whole rows of " + std::to_string(columns_));
  if (set_.get() < 0) fail("append to closed dataset");
  const hsize_t n = rows_row_major.size() / columns_;
  if (n == 0) return;
  const hsize_t extent[2] = {rows_ + n, columns_};
  if (H5Dset_extent(set_.get(), extent) < 0) fail("extend dataset");
  H5Handle file_space(H5Dget_space(set_.get()), H5Sclose);
  const hsize_t start[2] = {rows_, 0};
  const hsize_t count[2] = {n, columns_};
  if (file_space.get() < 0 || H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr) < 0)
    fail("select rows of");
  H5Handle memory_space(H5Screate_simple(2, count, nullptr), H5Sclose);
  if (memory_space.get() < 0 ||
      H5Dwrite(set_.get(), native_type<T>(), memory_space.get(), file_space.get(), H5P_DEFAULT,
               rows_row_major.data()) < 0)
    fail("write rows to");
  rows_ += n;
}

template <typename T>
void H5Rows<T>::flush() const {
  if (set_.get() >= 0 && H5Dflush(set_.get()) < 0) fail("flush");
}

template <typename T>
void H5Rows<T>::close() {
  if (set_.reset() < 0) fail("close");
}

template class H5Rows<double>;
template class H5Rows<long>;

}  // namespace cartpk::io
