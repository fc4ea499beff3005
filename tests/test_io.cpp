// Atomic outputs: nothing partial, nothing overwritten by a failed run. CSV tables as R and pandas read them.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "io/atomic_file.hpp"
#include "io/csv_writer.hpp"
#include "io/sha256.hpp"
#include "pkmodel/errors.hpp"

namespace fs = std::filesystem;
using namespace cartpk;

namespace {
std::string read_all(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
fs::path fresh_folder(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("cartpk-test-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}
}  // namespace

TEST_CASE("an uncommitted AtomicOutput leaves the old file intact and no temporary behind") {
  const auto dir = fresh_folder("atomic");
  const auto target = dir / "result.h5";
  std::ofstream(target) << "good";
  {
    io::AtomicOutput output(target);
    std::ofstream(output.temporary_path()) << "half-written";
    // destroyed without commit, as when an exception unwinds
  }
  CHECK(read_all(target) == "good");
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}) == 1);
  {
    io::AtomicOutput output(target);
    std::ofstream(output.temporary_path()) << "new";
    output.commit();
  }
  CHECK(read_all(target) == "new");
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}) == 1);
  fs::remove_all(dir);
}

TEST_CASE("check_output_path refuses missing folders, folders, devices and inputs, naming the option") {
  const auto dir = fresh_folder("paths");
  CHECK_THROWS_WITH_AS(io::check_output_path(dir / "nope" / "x.h5", "--out"), doctest::Contains("does not exist"),
                       InputError);
  CHECK_THROWS_WITH_AS(io::check_output_path(dir, "--out"), doctest::Contains("not a regular file"), InputError);
  CHECK_THROWS_WITH_AS(io::check_output_path("/dev/full", "--out"), doctest::Contains("--out /dev/full"), InputError);
  const auto input = dir / "data.csv";
  std::ofstream(input) << "ID\n";
  const fs::path inputs[] = {input};
  CHECK_THROWS_WITH_AS(io::check_output_path(input, "--out", inputs), doctest::Contains("same file"), InputError);
  CHECK_NOTHROW(io::check_output_path(dir / "fine.h5", "--out", inputs));
  fs::remove_all(dir);
}

TEST_CASE("CSV tables: doubles round-trip exactly, NaN is an empty field, infinities are Inf/-Inf, text is quoted") {
  const auto dir = fresh_folder("csv");
  const double third = 1.0 / 3.0;
  const std::vector<io::CsvColumn> columns{
      {"x", {third, std::nan(""), HUGE_VAL, -HUGE_VAL, 1e-300}},
      {"status", {}, {"ok", "ok; poorly determined: fb", "say \"hi\"", "", "a,b"}}};
  io::write_csv(dir / "t.csv", columns);
  std::istringstream lines(read_all(dir / "t.csv"));
  std::string header, row[5];
  std::getline(lines, header);
  for (auto& r : row) std::getline(lines, r);
  CHECK(header == "x,status");
  CHECK(std::stod(row[0].substr(0, row[0].find(','))) == third);  // %.17g: the same double back
  CHECK(row[1] == ",ok; poorly determined: fb");
  CHECK(row[2] == "Inf,\"say \"\"hi\"\"\"");
  CHECK(row[3] == "-Inf,");
  CHECK(row[4] == "1e-300,\"a,b\"");
  fs::remove_all(dir);
}

TEST_CASE("SHA-256 of the FIPS 180-4 test vectors") {
  CHECK(cartpk::io::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(cartpk::io::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(cartpk::io::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(cartpk::io::sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
