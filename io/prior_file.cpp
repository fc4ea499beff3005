#include "io/prior_file.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "pkmodel/errors.hpp"

namespace cartpk::io {

namespace {
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string where(const std::string& name, const toml::source_region& src) {
  return name + ":" + std::to_string(src.begin.line);
}

std::string hint(const std::string& word, const std::vector<std::string>& candidates) {
  const auto best = did_you_mean(word, candidates);
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

double positive_number(const toml::node& node, const std::string& name, const std::string& key) {
  const auto v = node.value<double>();
  if (!v || !std::isfinite(*v) || *v <= 0.0) {
    std::ostringstream found;
    if (v) found << *v;
    else found << "a " << node.type();
    throw InputError(where(name, node.source()) + ": key " + key + ": found " + found.str() +
                     ", expected a finite number > 0");
  }
  return *v;
}
}  // namespace

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    const auto d = edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

std::vector<PriorEntry> parse_prior_text(const std::string& text, const std::string& name,
                                         const std::vector<std::string>& parameters) {
  toml::table table;
  try {
    table = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    throw InputError(name + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()) +
                     " (expected a TOML prior file, see docs/priors.md)");
  }
  bool variance = true;
  if (const auto* iiv = table.get("iiv")) {
    const auto reading = iiv->value<std::string>();
    if (!reading || (*reading != "variance" && *reading != "sd"))
      throw InputError(where(name, iiv->source()) + ": key iiv: expected \"variance\" or \"sd\"");
    variance = *reading == "variance";
  }
  std::vector<PriorEntry> out;
  for (const auto& [key, node] : table) {
    const std::string k(key.str());
    if (k == "iiv") continue;
    if (std::find(parameters.begin(), parameters.end(), k) == parameters.end())
      throw InputError(where(name, node.source()) + ": unknown key '" + k + "'" + hint(k, parameters) +
                       " (expected iiv or a parameter of the model)");
    const auto* entry = node.as_table();
    if (!entry) throw InputError(where(name, node.source()) + ": key " + k + ": expected a table [" + k + "]");
    PriorEntry prior;
    prior.parameter = k;
    prior.line = static_cast<int>(node.source().begin.line);
    bool has_typical = false, has_omega = false;
    for (const auto& [field, value] : *entry) {
      const std::string f(field.str());
      if (f == "typical") {
        prior.typical = positive_number(value, name, k + ".typical");
        has_typical = true;
      } else if (f == "omega") {
        const double omega = positive_number(value, name, k + ".omega");
        prior.omega2 = variance ? omega : omega * omega;
        has_omega = true;
      } else {
        throw InputError(where(name, value.source()) + ": unknown key '" + k + "." + f + "'" +
                         hint(f, {"typical", "omega"}) + " (expected typical and omega)");
      }
    }
    if (!has_typical || !has_omega)
      throw InputError(where(name, node.source()) + ": [" + k + "] needs both typical and omega");
    out.push_back(prior);
  }
  return out;
}

std::vector<PriorEntry> read_prior_file(const std::filesystem::path& path, const std::vector<std::string>& parameters) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string() + ": cannot open the prior file (expected a readable TOML file)");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_prior_text(buffer.str(), path.string(), parameters);
}

}  // namespace cartpk::io
