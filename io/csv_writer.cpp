#include "io/csv_writer.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "io/atomic_file.hpp"

namespace cartpk::io {

std::string csv_number(double v) {
  if (std::isnan(v)) return "";  // missing: an empty field, which R and pandas both read as NA/NaN
  if (std::isinf(v)) return v > 0 ? "Inf" : "-Inf";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", v);
  return buffer;
}

std::string csv_text(const std::string& t) {
  if (t.find_first_of(",\"\n\r") == std::string::npos) return t;
  std::string q = "\"";
  for (char ch : t) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

CsvStream::CsvStream(std::filesystem::path path, const std::vector<std::string>& header)
    : path_(std::move(path)), out_(path_, std::ios::binary | std::ios::trunc) {
  row(header);
}

void CsvStream::row(const std::vector<std::string>& fields) {
  for (std::size_t j = 0; j < fields.size(); ++j) out_ << (j ? "," : "") << fields[j];
  out_ << '\n';
}

void CsvStream::flush() {
  out_.flush();
  if (!out_) throw OutputError("could not write " + path_.string() + " (disk full or file system error)");
}

void write_csv(const std::filesystem::path& path, std::span<const CsvColumn> columns) {
  auto length = [](const CsvColumn& c) { return c.values.empty() ? c.text.size() : c.values.size(); };
  const std::size_t rows = columns.empty() ? 0 : length(columns.front());
  for (const auto& c : columns)
    if (length(c) != rows) throw std::logic_error("write_csv: columns of unequal length");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    for (std::size_t j = 0; j < columns.size(); ++j) out << (j ? "," : "") << columns[j].name;
    out << '\n';
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t j = 0; j < columns.size(); ++j) {
        out << (j ? "," : "");
        out << (columns[j].values.empty() ? csv_text(columns[j].text[r]) : csv_number(columns[j].values[r]));
      }
      out << '\n';
    }
    out.flush();
    if (!out) throw OutputError("could not write " + path.string() + " (disk full or file system error)");
  }
}

}  // namespace cartpk::io
