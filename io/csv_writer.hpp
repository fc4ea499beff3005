#pragma once
// Numeric tables as CSV with full double precision (round-trips exactly); NaN (not estimated, not reached) is
// an empty field and infinities are Inf/-Inf, as R and pandas read them. Write to an AtomicOutput's temporary
// path to make it atomic.
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace cartpk::io {

struct CsvColumn {
  std::string name;
  std::vector<double> values;     // numeric column, or
  std::vector<std::string> text = {};  // a text column (used when values is empty); quoted where needed
};

// All columns must have the same length. Throws OutputError when the file cannot be written.
void write_csv(const std::filesystem::path& path, std::span<const CsvColumn> columns);

}  // namespace cartpk::io
