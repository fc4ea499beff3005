#include "io/csv_writer.hpp"

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "io/atomic_file.hpp"

namespace cartpk::io {

void write_csv(const std::filesystem::path& path, std::span<const CsvColumn> columns) {
  const std::size_t rows = columns.empty() ? 0 : columns.front().values.size();
  for (const auto& c : columns)
    if (c.values.size() != rows) throw std::logic_error("write_csv: columns of unequal length");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    for (std::size_t j = 0; j < columns.size(); ++j) out << (j ? "," : "") << columns[j].name;
    out << '\n';
    char buffer[32];
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t j = 0; j < columns.size(); ++j) {
        std::snprintf(buffer, sizeof buffer, "%.17g", columns[j].values[r]);
        out << (j ? "," : "") << buffer;
      }
      out << '\n';
    }
    out.flush();
    if (!out) throw OutputError("could not write " + path.string() + " (disk full or file system error)");
  }
}

}  // namespace cartpk::io
