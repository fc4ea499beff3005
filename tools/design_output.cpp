#include "tools/design_output.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

#include "io/atomic_file.hpp"
#include "io/csv_writer.hpp"
#include "io/h5_file.hpp"
#include "io/simulation_export.hpp"

namespace cartpk::cli {

namespace {
std::size_t rows(const DesignTable& t) {
  if (t.columns.empty()) return 0;
  const auto& c = t.columns.front();
  return c.values.empty() ? c.text.size() : c.values.size();
}

std::string cell(const DesignTable::Column& c, std::size_t row) {
  if (c.values.empty()) return c.text[row];
  char buffer[64];
  if (c.decimals < 0) std::snprintf(buffer, sizeof buffer, "%ld", std::lround(c.values[row]));
  else std::snprintf(buffer, sizeof buffer, "%.*f", c.decimals, c.values[row]);
  return buffer;
}

void write_h5(const DesignTable& t, const std::filesystem::path& path, const std::string& command_line) {
  io::H5File file(path);
  {
    const auto root = file.root();
    root.attribute("layout_version", io::kLayoutVersion);
    root.attribute("cartpk_version", std::string(CARTPK_VERSION));
    root.attribute("command_line", command_line);
    const auto design = root.subgroup("design");
    design.attribute("kind", t.kind);
    design.attribute("rule", t.rule);
    for (const auto& [name, value] : t.inputs) design.attribute(name, value);
    for (const auto& [name, value] : t.text_inputs) design.attribute(name, value);
    std::vector<std::string> names;
    for (const auto& c : t.columns) {
      names.push_back(c.name);
      if (c.values.empty()) {
        design.write(c.name, c.text);
      } else if (c.decimals < 0) {
        std::vector<long> integers;
        for (double v : c.values) integers.push_back(std::lround(v));
        design.write(c.name, integers);
      } else {
        design.write(c.name, c.values, c.units);
      }
    }
    design.attribute("columns", names);
  }
  file.close();
}
}  // namespace

void print_design_table(const DesignTable& t, const std::string& title) {
  std::printf("%s\n%s\n", title.c_str(), t.rule.c_str());
  const std::size_t n = rows(t);
  std::vector<std::size_t> width;
  for (const auto& c : t.columns) {
    std::size_t w = c.name.size();
    for (std::size_t r = 0; r < n; ++r) w = std::max(w, cell(c, r).size());
    width.push_back(w);
  }
  auto line = [&](auto text_of) {
    std::string out = " ";
    for (std::size_t j = 0; j < t.columns.size(); ++j) {
      const std::string text = text_of(j);
      const std::string padding(width[j] - text.size(), ' ');
      out += " " + (t.columns[j].values.empty() ? text + padding : padding + text);
    }
    std::printf("%s\n", out.c_str());
  };
  line([&](std::size_t j) { return t.columns[j].name; });
  for (std::size_t r = 0; r < n; ++r) line([&](std::size_t j) { return cell(t.columns[j], r); });
}

void write_design_outputs(const DesignTable& t, const std::string& csv_path, const std::string& h5_path,
                          const std::string& command_line) {
  std::unique_ptr<io::AtomicOutput> csv, h5;
  if (!csv_path.empty()) {
    csv = std::make_unique<io::AtomicOutput>(csv_path);
    std::vector<io::CsvColumn> columns;
    for (const auto& c : t.columns) columns.push_back({c.name, c.values, c.text});
    io::write_csv(csv->temporary_path(), columns);
  }
  if (!h5_path.empty()) {
    h5 = std::make_unique<io::AtomicOutput>(h5_path);
    write_h5(t, h5->temporary_path(), command_line);
  }
  io::commit_together({csv.get(), h5.get()});
}

}  // namespace cartpk::cli
