#pragma once
// Splits delimited text into records: strips a UTF-8 BOM, accepts LF and CRLF, honours double-quoted fields (""
// is a quote inside one), skips blank lines and comment lines (first non-blank character '#' or '@', NONMEM's
// IGNORE=# and IGNORE=@). Fields are separated by commas, semicolons, tabs or runs of blanks; the separator can be
// detected from the first line that is not blank or a comment (the header). Quoted fields may not span lines.
#include <string>
#include <string_view>
#include <vector>

namespace cartpk::io {

enum class Separator { detect, comma, semicolon, tab, whitespace };

// "comma" or ",", "semicolon" or ";", "tab", "whitespace" or "space", "auto"; throws InputError naming `option`.
Separator parse_separator(std::string_view text, const std::string& option);
std::string_view separator_name(Separator separator);  // "comma", "semicolon", "tab", "whitespace", "detect"

// The separator of the first line that is not blank or a comment: the one of ',', ';' and TAB found most often
// outside quotes (comma first on a tie), else runs of blanks.
Separator detect_separator(const std::string& text);

struct CsvRecord {
  int line = 0;  // 1-based line number in the file
  std::vector<std::string> fields;
};

// Throws InputError "NAME:LINE: ..." for an unterminated quote. `separator` may not be detect.
std::vector<CsvRecord> split_csv(const std::string& text, const std::string& name,
                                 Separator separator = Separator::comma);

}  // namespace cartpk::io
