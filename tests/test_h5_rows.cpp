// Extendable HDF5 datasets (H5RowWriter) read back exactly with H5Reader; streaming files survive a SIGKILL
// between batches; errors name the object and the file.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include "io/atomic_file.hpp"
#include "io/h5_reader.hpp"
#include "io/h5_rows.hpp"
#include "pkmodel/errors.hpp"

namespace fs = std::filesystem;
using namespace cartpk;

namespace {
fs::path fresh_folder(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("cartpk-test-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Rows r0 .. r0+n−1 of a test table with `columns` columns: awkward doubles included.
std::vector<double> block(std::size_t r0, std::size_t n, std::size_t columns) {
  std::vector<double> out;
  for (std::size_t r = r0; r < r0 + n; ++r)
    for (std::size_t c = 0; c < columns; ++c) {
      const std::size_t k = r * columns + c;
      double v = static_cast<double>(k) / 3.0;
      if (k % 11 == 3) v = std::nan("");
      if (k % 13 == 5) v = -std::numeric_limits<double>::infinity();
      if (k % 17 == 7) v = -0.0;
      if (k % 19 == 2) v = 4.9e-324;
      out.push_back(v);
    }
  return out;
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

int filter_count(const fs::path& file, const char* dataset) {
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t d = H5Dopen2(f, dataset, H5P_DEFAULT);
  const hid_t plist = H5Dget_create_plist(d);
  const int n = H5Pget_nfilters(plist);
  H5Pclose(plist);
  H5Dclose(d);
  H5Fclose(f);
  return n;
}

doctest::Contains contains(const std::string& text) { return doctest::Contains(text.c_str()); }

const std::vector<std::string> three_columns{"cmax", "tmax", "auc"};
}  // namespace

TEST_CASE("H5RowWriter: blocks of different sizes read back bit for bit, with units and column names") {
  const auto dir = fresh_folder("h5rows");
  for (const bool compress : {false, true}) {
    CAPTURE(compress);
    const auto path = dir / (compress ? "compressed.h5" : "plain.h5");
    const std::size_t sizes[] = {0, 1, 3, 4, 5, 17, 0, 250};  // around and across the 4-row chunks
    std::vector<double> written;
    std::vector<long> codes;
    {
      io::H5File file(path);
      const auto group = file.root().subgroup("vpop");
      auto rows = group.create_rows("metrics", three_columns, "mixed", 4, compress);
      const std::vector<std::string> status_column{"status"};
      auto status = group.create_long_rows("status", status_column, "code", 4, compress);
      std::size_t r0 = 0;
      for (const std::size_t n : sizes) {
        const auto b = block(r0, n, 3);
        rows.append(b);
        written.insert(written.end(), b.begin(), b.end());
        std::vector<long> s(n);
        for (std::size_t k = 0; k < n; ++k) s[k] = static_cast<long>(r0 + k) * (k % 2 ? -1 : 1) - 7;
        status.append(s);
        codes.insert(codes.end(), s.begin(), s.end());
        r0 += n;
        CHECK(rows.rows() == r0);
      }
      CHECK(rows.columns() == 3);
      CHECK(rows.path() == "/vpop/metrics");
      rows.flush();
      rows.close();
      status.close();
      file.close();
    }
    const io::H5Reader reader(path);
    CHECK(reader.dims("/vpop/metrics") == std::vector<std::size_t>{written.size() / 3, 3});
    CHECK(same_bits(reader.read_doubles("/vpop/metrics"), written));
    const Eigen::MatrixXd m = reader.read_matrix("/vpop/metrics");
    CHECK(m.rows() == static_cast<Eigen::Index>(written.size() / 3));
    CHECK(m(2, 1) == written[2 * 3 + 1]);
    CHECK(reader.read_longs("/vpop/status") == codes);
    CHECK(reader.string_attribute("/vpop/metrics", "units") == "mixed");
    CHECK(reader.strings_attribute("/vpop/metrics", "columns") == three_columns);
    CHECK(reader.string_attribute("/vpop/status", "units") == "code");
    CHECK(filter_count(path, "/vpop/metrics") == (compress ? 2 : 0));  // shuffle + deflate
  }
  fs::remove_all(dir);
}

TEST_CASE("H5Reader reads what H5Group writes: vectors, matrices, strings, attributes") {
  const auto dir = fresh_folder("h5read");
  const auto path = dir / "all.h5";
  const std::vector<double> doubles{1.5, -2.0, std::numeric_limits<double>::max()};
  const std::vector<long> longs{3, -4, std::numeric_limits<long>::min()};
  const std::vector<std::string> names{"tmax", "", "µ – unicode"};
  Eigen::MatrixXd matrix(2, 3);
  matrix << 1, 2, 3, 4, 5, 6;
  {
    io::H5File file(path);
    auto root = file.root();
    auto g = root.subgroup("a").subgroup("b");
    g.write("x", doubles, "day");
    g.write("n", longs);
    g.write("names", names);
    g.write("m", matrix, "1");
    g.attribute("model", "stein2019");
    g.attribute("rtol", 1e-8);
    g.attribute("seed", 42L);
    g.attribute("levels", names);
    root.attribute("layout_version", 3L);
    file.close();
  }
  const io::H5Reader reader(path);
  CHECK(reader.exists("/a/b/x"));
  CHECK(reader.exists("/"));
  CHECK_FALSE(reader.exists("/a/c/x"));
  CHECK(reader.read_doubles("/a/b/x") == doubles);
  CHECK(reader.read_longs("/a/b/n") == longs);
  CHECK(reader.read_strings("/a/b/names") == names);
  CHECK(reader.read_matrix("/a/b/m") == matrix);
  CHECK(reader.string_attribute("/a/b", "model") == "stein2019");
  CHECK(reader.double_attribute("/a/b", "rtol") == 1e-8);
  CHECK(reader.long_attribute("/a/b", "seed") == 42);
  CHECK(reader.strings_attribute("/a/b", "levels") == names);
  CHECK(reader.long_attribute("/", "layout_version") == 3);
  CHECK(reader.has_attribute("/a/b/x", "units"));
  CHECK_FALSE(reader.has_attribute("/a/b/x", "nope"));
  fs::remove_all(dir);
}

TEST_CASE("a streaming file killed between batches opens with every flushed row") {
  const auto dir = fresh_folder("h5kill");
  const auto path = dir / "stream.h5";
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {  // the writer: two batches flushed, a third written but not flushed, then SIGKILL
    try {
      auto file = io::H5File::create_streaming(path);
      const auto group = file.root().subgroup("vpop");
      auto rows = group.create_rows("metrics", three_columns, "mixed", 8, true);
      const std::vector<std::string> complete_column{"complete"};
      auto complete = group.create_long_rows("complete", complete_column, "1", 8, false);
      group.attribute("seed", 7L);
      file.start_streaming();
      rows.append(block(0, 5, 3));
      rows.append(block(5, 20, 3));
      file.flush();
      const long done[1] = {25};
      complete.append(done);
      file.flush();
      rows.append(block(25, 3, 3));
      ::kill(::getpid(), SIGKILL);
    } catch (...) {
    }
    ::_exit(3);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t plain_open = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  CHECK(plain_open < 0);  // the writer's SWMR flags are still set: only the reader's SWMR fallback opens it
  if (plain_open >= 0) H5Fclose(plain_open);
  const io::H5Reader reader(path);
  CHECK(reader.read_longs("/vpop/complete") == std::vector<long>{25});
  const auto values = reader.read_doubles("/vpop/metrics");
  REQUIRE(values.size() >= 25 * 3);
  CHECK(same_bits(std::vector<double>(values.begin(), values.begin() + 75), block(0, 25, 3)));
  CHECK(reader.long_attribute("/vpop", "seed") == 7);
  CHECK(reader.strings_attribute("/vpop/metrics", "columns") == three_columns);
  fs::remove_all(dir);
}

TEST_CASE("a streaming file closed normally reads like any other") {
  const auto dir = fresh_folder("h5stream");
  const auto path = dir / "stream.h5";
  {
    auto file = io::H5File::create_streaming(path);
    auto rows = file.root().create_rows("x", three_columns, "1", 2, false);
    file.start_streaming();
    for (std::size_t r = 0; r < 9; r += 3) {
      rows.append(block(r, 3, 3));
      file.flush();
    }
    rows.close();
    file.close();
  }
  const hid_t plain_open = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);  // no SWMR flags left
  CHECK(plain_open >= 0);
  if (plain_open >= 0) H5Fclose(plain_open);
  CHECK(same_bits(io::H5Reader(path).read_doubles("/x"), block(0, 9, 3)));
  fs::remove_all(dir);
}

TEST_CASE("HDF5 rows and reader errors name the object and the file") {
  const auto dir = fresh_folder("h5errors");
  CHECK_THROWS_WITH_AS(io::H5File::create_streaming(dir / "missing" / "x.h5"),
                       contains((dir / "missing" / "x.h5").string()), io::OutputError);
  CHECK_THROWS_WITH_AS(io::H5File(dir / "missing" / "y.h5"), doctest::Contains("missing/y.h5"), io::OutputError);
  const auto path = dir / "e.h5";
  {
    io::H5File file(path);
    const auto group = file.root().subgroup("g");
    auto rows = group.create_rows("m", three_columns, "1");
    CHECK_THROWS_WITH_AS(group.create_rows("m", three_columns, "1"),
                         contains("create dataset /g/m in " + path.string()), io::OutputError);
    const double partial[] = {1.0, 2.0};
    CHECK_THROWS_WITH_AS(rows.append(partial), doctest::Contains("/g/m"), std::invalid_argument);
    CHECK_THROWS_AS(group.create_rows("empty", {}, "1"), std::invalid_argument);
    CHECK_THROWS_AS(group.create_rows("zero_chunk", three_columns, "1", 0), std::invalid_argument);
    CHECK_THROWS_WITH_AS(file.start_streaming(), contains(path.string()), io::OutputError);
    group.write("v", std::vector<double>{1.0}, "1");
    rows.close();
    file.close();
  }
  CHECK_THROWS_WITH_AS(io::H5Reader(dir / "nope.h5"), contains((dir / "nope.h5").string()), InputError);
  std::ofstream(dir / "text.h5") << "not hdf5";
  CHECK_THROWS_WITH_AS(io::H5Reader(dir / "text.h5"), doctest::Contains("text.h5"), InputError);
  const io::H5Reader reader(path);
  CHECK_THROWS_WITH_AS((void)reader.read_doubles("/g/nope"),
                       contains("dataset /g/nope in " + path.string()), InputError);
  CHECK_THROWS_WITH_AS((void)reader.read_strings("/g/v"), doctest::Contains("holds no strings"), InputError);
  CHECK_THROWS_WITH_AS((void)reader.read_matrix("/g/v"), doctest::Contains("1 dimensions"), InputError);
  CHECK_THROWS_WITH_AS((void)reader.string_attribute("/g/v", "nope"), doctest::Contains("attribute nope of /g/v"),
                       InputError);
  fs::remove_all(dir);
}
