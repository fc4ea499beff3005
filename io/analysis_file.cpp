#include "io/analysis_file.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>

#include "io/did_you_mean.hpp"
#include "io/toml_support.hpp"

namespace cartpk::io {

namespace {
const char* kExpected = "a TOML analysis file, see docs/analysis-file.md";

std::string a_type(const toml::node& node) {  // "an array", "a table", ...
  std::ostringstream out;
  out << node.type();
  const std::string t = out.str();
  return (std::string("aeiou").find(t.front()) != std::string::npos ? "an " : "a ") + t;
}

// A scalar as the command line would spell it; tables, arrays and dates are not scalars.
std::optional<std::string> scalar_text(const toml::node& node) {
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* f = node.as_floating_point()) {
    char buffer[32];
    const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, f->get());  // shortest round trip
    return std::string(buffer, ec == std::errc{} ? end : buffer);
  }
  return std::nullopt;
}

// A table's entries in the order the file has them (toml++ keeps them sorted by key).
std::vector<std::pair<std::string, const toml::node*>> in_file_order(const toml::table& table) {
  std::vector<std::pair<std::string, const toml::node*>> out;
  for (const auto& [key, node] : table) out.emplace_back(std::string(key.str()), &node);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    const auto &pa = a.second->source().begin, &pb = b.second->source().begin;
    return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
  });
  return out;
}

class Flattener {
 public:
  explicit Flattener(const std::string& name) : name_(name) {}

  std::vector<std::string> scalars(const toml::array& array, const std::string& key) const {
    std::vector<std::string> out;
    for (const auto& element : array) out.push_back(scalar(element, key));
    return out;
  }

  std::string scalar(const toml::node& node, const std::string& key) const {
    if (auto text = scalar_text(node)) return *text;
    throw InputError(toml_where(name_, node.source()) + ": key " + key + ": found " + a_type(node) +
                     ", expected a string, number or boolean");
  }

  AnalysisEntry entry(const std::string& key, const toml::node& node) const {
    AnalysisEntry e{key, {}, false, static_cast<int>(node.source().begin.line)};
    if (const auto* array = node.as_array()) {
      e.values = scalars(*array, key);
      e.is_list = true;
    } else if (const auto* table = node.as_table()) {  // name = value pairs, e.g. fix = { kcp = 300 }
      e.is_list = true;
      for (const auto& [name, value] : in_file_order(*table)) {
        const std::string sub = key + "." + name;
        std::string joined;
        if (const auto* list = value->as_array())
          for (const auto& part : scalars(*list, sub)) joined += (joined.empty() ? "" : ":") + part;
        else
          joined = scalar(*value, sub);
        e.values.push_back(name + "=" + joined);
      }
    } else {
      e.values.push_back(scalar(node, key));
    }
    return e;
  }

 private:
  const std::string& name_;
};
}  // namespace

AnalysisFile parse_analysis_text(const std::string& text, const std::string& name, const std::string& command,
                                 const std::vector<std::string>& commands) {
  const toml::table document = parse_toml(text, name, kExpected);
  std::string tables;
  for (const auto& c : commands) tables += (tables.empty() ? "[" : "], [") + c;
  tables += "]";
  for (const auto& [key, node] : document) {
    const std::string k(key.str());
    const bool known = std::find(commands.begin(), commands.end(), k) != commands.end();
    if (!known)
      throw InputError(toml_where(name, node.source()) + ": unknown key '" + k + "'" + did_you_mean_hint(k, commands) +
                       " (expected the tables " + tables + ")");
    if (!node.is_table())
      throw InputError(toml_where(name, node.source()) + ": key " + k + ": found " + a_type(node) +
                       ", expected a table [" + k + "]");
  }
  const auto* table = document.get_as<toml::table>(command);
  if (!table) throw InputError(name + ": no [" + command + "] table (expected " + kExpected + ")");
  AnalysisFile out{name, std::filesystem::path(name).parent_path(), {}};
  const Flattener flatten(name);
  for (const auto& [key, node] : in_file_order(*table)) out.entries.push_back(flatten.entry(key, *node));
  return out;
}

AnalysisFile read_analysis_file(const std::filesystem::path& path, const std::string& command,
                                const std::vector<std::string>& commands) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string() + ": cannot open the analysis file (expected a readable TOML file)");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_analysis_text(buffer.str(), path.string(), command, commands);
}

}  // namespace cartpk::io
