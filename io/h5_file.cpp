#include "io/h5_file.hpp"

#include <chrono>
#include <ctime>

#include "io/atomic_file.hpp"

#include <algorithm>
#include <optional>

namespace cartpk::io {

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

namespace {
// Errors are reported through exceptions; HDF5's own printing to stderr is switched off once.
void silence_hdf5() {
  static const bool done = [] { return H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr) >= 0; }();
  (void)done;
}

H5Handle utf8_string_type() {
  H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  return type;
}

std::vector<const char*> c_strings(std::span<const std::string> values) {
  std::vector<const char*> out;
  out.reserve(values.size());
  for (const auto& v : values) out.push_back(v.c_str());
  return out;
}
}  // namespace

H5Handle& H5Handle::operator=(H5Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

herr_t H5Handle::reset() {
  herr_t status = 0;
  if (id_ >= 0 && closer_) status = closer_(id_);
  id_ = H5I_INVALID_HID;
  return status;
}

H5Group::H5Group(H5Handle handle, std::string path, std::string file)
    : handle_(std::move(handle)), path_(std::move(path)), file_(std::move(file)) {}

void H5Group::fail(std::string_view what, std::string_view name) const {
  throw OutputError("HDF5: could not " + std::string(what) + " " + path_ + (path_ == "/" ? "" : "/") +
                    std::string(name) + " in " + file_);
}

H5Group H5Group::subgroup(std::string_view name) const {
  const std::string n(name);
  H5Handle g(H5Gcreate2(handle_.get(), n.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  if (g.get() < 0) fail("create group", name);
  return {std::move(g), (path_ == "/" ? "" : path_) + "/" + n, file_};
}

void H5Group::write_raw(std::string_view name, hid_t type, std::span<const hsize_t> dims, const void* data,
                        std::optional<std::string_view> units) const {
  const std::string n(name);
  H5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  if (space.get() < 0) fail("create dataspace for", name);
  H5Handle set(H5Dcreate2(handle_.get(), n.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
               H5Dclose);
  if (set.get() < 0) fail("create dataset", name);
  // HDF5 callocs a type-conversion buffer of 1 MiB per write by default (strings are converted); size it to the data.
  hsize_t elements = 1;
  for (hsize_t d : dims) elements *= d;
  H5Handle transfer(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  if (transfer.get() < 0 || H5Pset_buffer(transfer.get(), std::max<std::size_t>(4096, 64 * elements), nullptr, nullptr) < 0)
    fail("set the transfer buffer for", name);
  if (H5Dwrite(set.get(), type, H5S_ALL, H5S_ALL, transfer.get(), data) < 0) fail("write dataset", name);
  if (units) {  // while the dataset is open: reopening it costs more than the write
    const auto string_type = utf8_string_type();
    const std::string u(*units);
    const char* ptr = u.c_str();
    attribute_raw(set.get(), "units", string_type.get(), {}, &ptr);
  }
  if (set.reset() < 0) fail("close dataset", name);
}

void H5Group::write(std::string_view name, std::span<const double> values, std::string_view units) const {
  const hsize_t dims[1] = {values.size()};
  write_raw(name, H5T_NATIVE_DOUBLE, dims, values.data(), units);
}

void H5Group::write(std::string_view name, const Eigen::MatrixXd& values, std::string_view units) const {
  const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> row_major = values;
  const hsize_t dims[2] = {static_cast<hsize_t>(values.rows()), static_cast<hsize_t>(values.cols())};
  write_raw(name, H5T_NATIVE_DOUBLE, dims, row_major.data(), units);
}

void H5Group::write(std::string_view name, std::span<const long> values) const {
  const hsize_t dims[1] = {values.size()};
  write_raw(name, H5T_NATIVE_LONG, dims, values.data());
}

void H5Group::write(std::string_view name, std::span<const std::string> values) const {
  const auto type = utf8_string_type();
  const auto ptrs = c_strings(values);
  const hsize_t dims[1] = {values.size()};
  write_raw(name, type.get(), dims, ptrs.data());
}

void H5Group::attribute_raw(hid_t target, std::string_view name, hid_t type, std::span<const hsize_t> dims,
                            const void* data) const {
  const std::string n(name);
  H5Handle space(dims.empty() ? H5Screate(H5S_SCALAR)
                              : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                 H5Sclose);
  H5Handle attr(H5Acreate2(target, n.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (space.get() < 0 || attr.get() < 0) fail("create attribute", name);
  if (H5Awrite(attr.get(), type, data) < 0) fail("write attribute", name);
}

void H5Group::attribute(std::string_view name, std::string_view value) const {
  const auto type = utf8_string_type();
  const std::string v(value);
  const char* ptr = v.c_str();
  attribute_raw(handle_.get(), name, type.get(), {}, &ptr);
}

void H5Group::attribute(std::string_view name, double value) const {
  attribute_raw(handle_.get(), name, H5T_NATIVE_DOUBLE, {}, &value);
}

void H5Group::attribute(std::string_view name, long value) const {
  attribute_raw(handle_.get(), name, H5T_NATIVE_LONG, {}, &value);
}

void H5Group::attribute(std::string_view name, std::span<const std::string> values) const {
  const auto type = utf8_string_type();
  const auto ptrs = c_strings(values);
  const hsize_t dims[1] = {values.size()};
  attribute_raw(handle_.get(), name, type.get(), dims, ptrs.data());
}

void H5Group::dataset_attribute(std::string_view dataset, std::string_view name, std::string_view value) const {
  const std::string d(dataset);
  H5Handle set(H5Dopen2(handle_.get(), d.c_str(), H5P_DEFAULT), H5Dclose);
  if (set.get() < 0) fail("open dataset", dataset);
  const auto type = utf8_string_type();
  const std::string v(value);
  const char* ptr = v.c_str();
  attribute_raw(set.get(), name, type.get(), {}, &ptr);
}

void H5Group::dataset_attribute(std::string_view dataset, std::string_view name,
                                std::span<const std::string> values) const {
  const std::string d(dataset);
  H5Handle set(H5Dopen2(handle_.get(), d.c_str(), H5P_DEFAULT), H5Dclose);
  if (set.get() < 0) fail("open dataset", dataset);
  const auto type = utf8_string_type();
  const auto ptrs = c_strings(values);
  const hsize_t dims[1] = {values.size()};
  attribute_raw(set.get(), name, type.get(), dims, ptrs.data());
}

H5File::H5File(const std::filesystem::path& path) : H5File(path, compact_access().get()) {}

H5Handle H5File::compact_access() {
  H5Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (access.get() < 0 || H5Pset_libver_bounds(access.get(), H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0)
    throw OutputError("HDF5: could not set the file format");
  return access;
}

H5File::H5File(const std::filesystem::path& path, hid_t access) : name_(path.string()) {
  silence_hdf5();
  file_ = H5Handle(H5Fcreate(name_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access), H5Fclose);
  if (file_.get() < 0) throw OutputError("HDF5: could not create " + name_);
}

H5File H5File::create_streaming(const std::filesystem::path& path) {
  silence_hdf5();
  H5Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (access.get() < 0 || H5Pset_libver_bounds(access.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) < 0)
    throw OutputError("HDF5: could not set the file format for " + path.string());
  return {path, access.get()};
}

void H5File::start_streaming() {
  if (H5Fstart_swmr_write(file_.get()) < 0)
    throw OutputError("HDF5: could not start streaming (SWMR) writing to " + name_ +
                      " (needs a file from H5File::create_streaming)");
}

void H5File::flush() const {
  if (H5Fflush(file_.get(), H5F_SCOPE_GLOBAL) < 0) throw OutputError("HDF5: could not flush " + name_ + " (disk full?)");
}

H5Group H5File::root() const {
  H5Handle g(H5Gopen2(file_.get(), "/", H5P_DEFAULT), H5Gclose);
  if (g.get() < 0) throw OutputError("HDF5: could not open the root group of " + name_);
  return {std::move(g), "/", name_};
}

void H5File::close() {
  if (H5Fflush(file_.get(), H5F_SCOPE_GLOBAL) < 0 || file_.reset() < 0)
    throw OutputError("HDF5: could not finish writing " + name_ + " (disk full?)");
}

}  // namespace cartpk::io
