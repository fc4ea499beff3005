#pragma once
// Numeric tables as CSV with full double precision (round-trips exactly); NaN (not estimated, not reached) is
// an empty field and infinities are Inf/-Inf, as R and pandas read them. Write to an AtomicOutput's temporary
// path to make it atomic.
#include <filesystem>
#include <fstream>
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

// One field: a number at full precision ("" for NaN, Inf/-Inf), or text quoted where needed.
std::string csv_number(double value);
std::string csv_text(const std::string& text);

// A table written row by row as results arrive (long runs): header first, flush() after each batch.
class CsvStream {
 public:
  CsvStream(std::filesystem::path path, const std::vector<std::string>& header);
  void row(const std::vector<std::string>& fields);
  void flush();  // throws OutputError when the data could not be written

 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

}  // namespace cartpk::io
