#include "io/csv_reader.hpp"

#include <array>

#include "pkmodel/errors.hpp"

namespace cartpk::io {

namespace {
bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

bool is_comment(const std::string& trimmed) { return !trimmed.empty() && (trimmed[0] == '#' || trimmed[0] == '@'); }

char separator_char(Separator separator) {
  switch (separator) {
    case Separator::semicolon: return ';';
    case Separator::tab: return '\t';
    default: return ',';
  }
}

std::vector<std::string> split_line(const std::string& line, const std::string& where, Separator separator) {
  const bool blanks = separator == Separator::whitespace;
  const char sep = separator_char(separator);
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false, was_quoted = false, in_field = false;  // in_field: whitespace mode, inside a field
  const auto finish = [&] {
    fields.push_back(was_quoted ? field : trim(field));
    field.clear();
    was_quoted = in_field = false;
  };
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') { field += '"'; ++i; }
      else if (c == '"') quoted = false;
      else field += c;
    } else if (c == '"' && trim(field).empty()) {
      quoted = was_quoted = in_field = true;
      field.clear();
    } else if (blanks ? is_blank(c) : c == sep) {
      if (!blanks || in_field) finish();
    } else {
      field += c;
      in_field = true;
    }
  }
  if (quoted) throw InputError(where + ": unterminated quoted field (expected a closing \")");
  if (!blanks || in_field) finish();
  return fields;
}

// Calls `visit(line_number, line)` for each line that is not blank or a comment, until it returns false.
template <class Visit>
void for_each_line(const std::string& text, Visit visit) {
  std::size_t pos = text.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;
  int line_number = 0;
  while (pos <= text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    ++line_number;
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string trimmed = trim(line);
    if (!trimmed.empty() && !is_comment(trimmed) && !visit(line_number, line)) return;
    if (end == text.size()) return;
  }
}
}  // namespace

Separator parse_separator(std::string_view text, const std::string& option) {
  if (text == "comma" || text == ",") return Separator::comma;
  if (text == "semicolon" || text == ";") return Separator::semicolon;
  if (text == "tab" || text == "\t" || text == "\\t") return Separator::tab;
  if (text == "whitespace" || text == "space" || text == " ") return Separator::whitespace;
  if (text == "auto" || text.empty()) return Separator::detect;
  throw InputError(option + " '" + std::string(text) + "': expected comma, semicolon, tab, whitespace or auto");
}

std::string_view separator_name(Separator separator) {
  switch (separator) {
    case Separator::comma: return "comma";
    case Separator::semicolon: return "semicolon";
    case Separator::tab: return "tab";
    case Separator::whitespace: return "whitespace";
    case Separator::detect: break;
  }
  return "detect";
}

Separator detect_separator(const std::string& text) {
  Separator found = Separator::comma;
  for_each_line(text, [&found](int, const std::string& line) {
    constexpr std::array<std::pair<char, Separator>, 3> kCandidates{
        {{',', Separator::comma}, {';', Separator::semicolon}, {'\t', Separator::tab}}};
    std::array<int, 3> counts{};
    bool quoted = false;
    for (char c : line) {
      if (c == '"') quoted = !quoted;
      if (quoted) continue;
      for (std::size_t k = 0; k < kCandidates.size(); ++k) counts[k] += c == kCandidates[k].first;
    }
    std::size_t best = 0;
    for (std::size_t k = 1; k < counts.size(); ++k)
      if (counts[k] > counts[best]) best = k;
    found = counts[best] > 0 ? kCandidates[best].second : Separator::whitespace;
    return false;  // the header decides
  });
  return found;
}

std::vector<CsvRecord> split_csv(const std::string& text, const std::string& name, Separator separator) {
  if (separator == Separator::detect) separator = detect_separator(text);
  std::vector<CsvRecord> records;
  for_each_line(text, [&](int line_number, const std::string& line) {
    records.push_back({line_number, split_line(line, name + ":" + std::to_string(line_number), separator)});
    return true;
  });
  return records;
}

}  // namespace cartpk::io
