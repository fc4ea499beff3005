#include "io/csv_writer.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "io/atomic_file.hpp"

namespace cartpk::io {

void write_csv(const std::filesystem::path& path, std::span<const CsvColumn> columns) {
  auto length = [](const CsvColumn& c) { return c.values.empty() ? c.text.size() : c.values.size(); };
  const std::size_t rows = columns.empty() ? 0 : length(columns.front());
  for (const auto& c : columns)
    if (length(c) != rows) throw std::logic_error("write_csv: columns of unequal length");
  auto quoted = [](const std::string& t) {
    if (t.find_first_of(",\"\n\r") == std::string::npos) return t;
    std::string q = "\"";
    for (char ch : t) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return q + "\"";
  };
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    for (std::size_t j = 0; j < columns.size(); ++j) out << (j ? "," : "") << columns[j].name;
    out << '\n';
    char buffer[32];
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t j = 0; j < columns.size(); ++j) {
        out << (j ? "," : "");
        if (columns[j].values.empty()) {
          out << quoted(columns[j].text[r]);
        } else if (const double v = columns[j].values[r]; std::isnan(v)) {
          // missing: an empty field, which R and pandas both read as NA/NaN
        } else if (std::isinf(v)) {
          out << (v > 0 ? "Inf" : "-Inf");
        } else {
          std::snprintf(buffer, sizeof buffer, "%.17g", v);
          out << buffer;
        }
      }
      out << '\n';
    }
    out.flush();
    if (!out) throw OutputError("could not write " + path.string() + " (disk full or file system error)");
  }
}

}  // namespace cartpk::io
