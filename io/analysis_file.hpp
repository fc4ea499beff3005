#pragma once
// Analysis files (TOML): a command's options written down, one table per command, so that an analysis can be
// kept, reviewed and rerun (docs/analysis-file.md):
//
//   [fit]
//   model = "stein2019"
//   data = "cohort.csv"                       # relative paths: from the analysis file's folder
//   estimate = ["foldx", "tmax", "cmax"]
//   fix = { kcp = 300 }
//   bounds = { tmax = [1, 30] }
//   error = { qpcr = "lognormal:0.3" }
//
// The reader only checks the TOML and flattens each key's value into the strings the command line would
// carry; what the values mean is checked by the command, which names the file, line and key.
#include <filesystem>
#include <string>
#include <vector>

namespace cartpk::io {

struct AnalysisEntry {
  std::string key;                  // as written (e.g. atol_scale)
  // A scalar: one string. An array: one string per element. A table: "name=value" per entry, an array value
  // joined by ':' ("tmax=1:30").
  std::vector<std::string> values;
  bool is_list = false;             // an array or a table: joined by commas for a single-value option
  int line = 0;
};

struct AnalysisFile {
  std::string name;                 // the file as given
  std::filesystem::path folder;     // relative paths in the file are taken from here
  std::vector<AnalysisEntry> entries;
};

// The entries of table [command]. `commands` lists every table a file may hold (others are errors).
AnalysisFile parse_analysis_text(const std::string& text, const std::string& name, const std::string& command,
                                 const std::vector<std::string>& commands);
AnalysisFile read_analysis_file(const std::filesystem::path& path, const std::string& command,
                                const std::vector<std::string>& commands);

}  // namespace cartpk::io
