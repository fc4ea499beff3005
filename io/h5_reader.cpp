#include "io/h5_reader.hpp"

#include <algorithm>
#include <cstring>

#include "pkmodel/errors.hpp"

namespace cartpk::io {

namespace {
void silence_hdf5() {
  static const bool done = [] { return H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr) >= 0; }();
  (void)done;
}
}  // namespace

struct H5Reader::Source {
  H5Handle handle;
  bool attribute = false;
  std::string label;  // "dataset /a/b" or "attribute units of /a/b"

  [[nodiscard]] H5Handle type() const {
    return {attribute ? H5Aget_type(handle.get()) : H5Dget_type(handle.get()), H5Tclose};
  }
  [[nodiscard]] H5Handle space() const {
    return {attribute ? H5Aget_space(handle.get()) : H5Dget_space(handle.get()), H5Sclose};
  }
  [[nodiscard]] bool read(hid_t memory_type, void* out) const {
    return (attribute ? H5Aread(handle.get(), memory_type, out)
                      : H5Dread(handle.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out)) >= 0;
  }
};

H5Reader::H5Reader(const std::filesystem::path& path) : name_(path.string()) {
  silence_hdf5();
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error))
    throw InputError("HDF5: " + name_ + " does not exist or is not a file");
  hid_t id = H5Fopen(name_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  // A streaming file whose writer was killed keeps its "open for writing" flags; SWMR reading accepts it.
  if (id < 0) id = H5Fopen(name_.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
  if (id < 0) throw InputError("HDF5: could not open " + name_ + " (not an HDF5 file, or being written)");
  file_ = H5Handle(id, H5Fclose);
}

void H5Reader::fail(std::string_view what, std::string_view object) const {
  throw InputError("HDF5: could not " + std::string(what) + " " + std::string(object) + " in " + name_);
}

bool H5Reader::exists(std::string_view path) const {
  // H5Lexists needs every parent to exist: walk the path one link at a time.
  std::string prefix;
  std::size_t start = 0;
  while (start < path.size()) {
    const std::size_t slash = std::min(path.find('/', start), path.size());
    if (slash > start) {
      prefix += "/" + std::string(path.substr(start, slash - start));
      if (H5Lexists(file_.get(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    }
    start = slash + 1;
  }
  return true;
}

std::vector<std::string> H5Reader::children(std::string_view group) const {
  const std::string path(group);
  H5Handle g(H5Gopen2(file_.get(), path.c_str(), H5P_DEFAULT), H5Gclose);
  if (g.get() < 0) fail("open the group", path);
  std::vector<std::string> names;
  const auto collect = [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
    static_cast<std::vector<std::string>*>(out)->emplace_back(name);
    return 0;
  };
  if (H5Literate(g.get(), H5_INDEX_CRT_ORDER, H5_ITER_INC, nullptr, collect, &names) < 0) {
    names.clear();  // groups made without creation-order tracking: by name
    if (H5Literate(g.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect, &names) < 0) fail("list the group", path);
  }
  return names;
}

H5Reader::Source H5Reader::open_dataset(std::string_view dataset) const {
  const std::string label = "dataset " + std::string(dataset);
  if (!exists(dataset)) fail("find", label);
  const std::string d(dataset);
  H5Handle set(H5Dopen2(file_.get(), d.c_str(), H5P_DEFAULT), H5Dclose);
  if (set.get() < 0) fail("open", label);
  return {std::move(set), false, label};
}

H5Reader::Source H5Reader::open_attribute(std::string_view object, std::string_view name) const {
  const std::string label = "attribute " + std::string(name) + " of " + std::string(object);
  if (!has_attribute(object, name)) fail("find", label);
  const std::string o(object);
  const std::string n(name);
  H5Handle attribute(H5Aopen_by_name(file_.get(), o.c_str(), n.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (attribute.get() < 0) fail("open", label);
  return {std::move(attribute), true, label};
}

bool H5Reader::has_attribute(std::string_view object, std::string_view name) const {
  if (!exists(object)) return false;
  const std::string o(object);
  const std::string n(name);
  return H5Aexists_by_name(file_.get(), o.c_str(), n.c_str(), H5P_DEFAULT) > 0;
}

std::vector<std::size_t> H5Reader::dims(std::string_view dataset) const {
  const auto source = open_dataset(dataset);
  const auto space = source.space();
  const int rank = space.get() < 0 ? -1 : H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail("read the shape of", source.label);
  std::vector<hsize_t> d(static_cast<std::size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(space.get(), d.data(), nullptr) < 0) fail("read the shape of", source.label);
  return {d.begin(), d.end()};
}

template <typename T>
std::vector<T> H5Reader::read_numbers(const Source& source, hid_t memory_type) const {
  const auto type = source.type();
  const auto space = source.space();
  if (type.get() < 0 || space.get() < 0) fail("read the type of", source.label);
  const H5T_class_t kind = H5Tget_class(type.get());
  if (kind != H5T_INTEGER && kind != H5T_FLOAT) fail("read numbers from (it holds no numbers)", source.label);
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0) fail("read the size of", source.label);
  std::vector<T> out(static_cast<std::size_t>(n));
  if (n > 0 && !source.read(memory_type, out.data())) fail("read", source.label);
  return out;
}

std::vector<std::string> H5Reader::read_text(const Source& source) const {
  const auto type = source.type();
  const auto space = source.space();
  if (type.get() < 0 || space.get() < 0) fail("read the type of", source.label);
  if (H5Tget_class(type.get()) != H5T_STRING) fail("read text from (it holds no strings)", source.label);
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  if (count < 0) fail("read the size of", source.label);
  const auto n = static_cast<std::size_t>(count);
  std::vector<std::string> out;
  out.reserve(n);
  if (n == 0) return out;
  H5Handle memory_type(H5Tcopy(H5T_C_S1), H5Tclose);
  const auto cset = H5Tget_cset(type.get());
  if (H5Tis_variable_str(type.get()) > 0) {
    if (memory_type.get() < 0 || H5Tset_size(memory_type.get(), H5T_VARIABLE) < 0 ||
        H5Tset_cset(memory_type.get(), cset) < 0)
      fail("set up reading", source.label);
    std::vector<char*> pointers(n, nullptr);
    if (!source.read(memory_type.get(), pointers.data())) fail("read", source.label);
    for (const char* p : pointers) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(memory_type.get(), space.get(), H5P_DEFAULT, pointers.data());
  } else {
    const std::size_t size = H5Tget_size(type.get());
    if (memory_type.get() < 0 || size == 0 || H5Tset_size(memory_type.get(), size) < 0 ||
        H5Tset_cset(memory_type.get(), cset) < 0 || H5Tset_strpad(memory_type.get(), H5T_STR_NULLPAD) < 0)
      fail("set up reading", source.label);
    std::vector<char> buffer(n * size);
    if (!source.read(memory_type.get(), buffer.data())) fail("read", source.label);
    for (std::size_t k = 0; k < n; ++k) {
      const char* p = buffer.data() + k * size;
      out.emplace_back(p, strnlen(p, size));
    }
  }
  return out;
}

std::vector<double> H5Reader::read_doubles(std::string_view dataset) const {
  return read_numbers<double>(open_dataset(dataset), H5T_NATIVE_DOUBLE);
}

std::vector<long> H5Reader::read_longs(std::string_view dataset) const {
  return read_numbers<long>(open_dataset(dataset), H5T_NATIVE_LONG);
}

Eigen::MatrixXd H5Reader::read_matrix(std::string_view dataset) const {
  const auto shape = dims(dataset);
  if (shape.size() != 2)
    fail("read as a matrix (it has " + std::to_string(shape.size()) + " dimensions)", "dataset " + std::string(dataset));
  const auto values = read_doubles(dataset);
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  return Eigen::Map<const RowMajor>(values.data(), static_cast<Eigen::Index>(shape[0]),
                                    static_cast<Eigen::Index>(shape[1]));
}

std::vector<std::string> H5Reader::read_strings(std::string_view dataset) const {
  return read_text(open_dataset(dataset));
}

std::string H5Reader::string_attribute(std::string_view object, std::string_view name) const {
  const auto source = open_attribute(object, name);
  auto values = read_text(source);
  if (values.size() != 1) fail("read one string from", source.label);
  return std::move(values.front());
}

std::vector<std::string> H5Reader::strings_attribute(std::string_view object, std::string_view name) const {
  return read_text(open_attribute(object, name));
}

double H5Reader::double_attribute(std::string_view object, std::string_view name) const {
  const auto source = open_attribute(object, name);
  const auto values = read_numbers<double>(source, H5T_NATIVE_DOUBLE);
  if (values.size() != 1) fail("read one number from", source.label);
  return values.front();
}

long H5Reader::long_attribute(std::string_view object, std::string_view name) const {
  const auto source = open_attribute(object, name);
  const auto values = read_numbers<long>(source, H5T_NATIVE_LONG);
  if (values.size() != 1) fail("read one number from", source.label);
  return values.front();
}

}  // namespace cartpk::io
