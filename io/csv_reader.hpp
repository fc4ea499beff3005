#pragma once
// Splits CSV text into records: strips a UTF-8 BOM, accepts LF and CRLF, honours double-quoted fields ("" is a
// quote inside one), skips blank lines and lines starting with '#'. Quoted fields may not span lines.
#include <string>
#include <vector>

namespace cartpk::io {

struct CsvRecord {
  int line = 0;  // 1-based line number in the file
  std::vector<std::string> fields;
};

// Throws InputError "NAME:LINE: ..." for an unterminated quote.
std::vector<CsvRecord> split_csv(const std::string& text, const std::string& name);

}  // namespace cartpk::io
