#pragma once
// The tables of `cartpk design`: printed on stdout, and written as CSV (--table) and HDF5 (--out, group
// /design; layout in docs/hdf5-layout.md), both atomically.
#include <string>
#include <utility>
#include <vector>

namespace cartpk::cli {

struct DesignTable {
  struct Column {
    std::string name;
    std::vector<double> values;          // numeric column, or
    std::vector<std::string> text = {};  // a text column (when values is empty)
    int decimals = -1;                   // printed with this many decimals; -1: an integer (int64 in HDF5)
    std::string units = "-";             // HDF5 units attribute of a floating-point column
  };
  std::string kind;                      // /design@kind: simon, bryant_day, evaluate
  std::string rule;                      // the decision rule in words (/design@rule, printed)
  std::vector<Column> columns;
  std::vector<std::pair<std::string, double>> inputs;             // /design attributes (numbers)
  std::vector<std::pair<std::string, std::string>> text_inputs;   // /design attributes (text)
};

void print_design_table(const DesignTable& table, const std::string& title);

// Writes the CSV and/or HDF5 file (empty path: not written), each to a temporary first, committed together.
void write_design_outputs(const DesignTable& table, const std::string& csv_path, const std::string& h5_path,
                          const std::string& command_line);

}  // namespace cartpk::cli
