#include "io/prior_file.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "io/toml_support.hpp"
#include "pkmodel/errors.hpp"

namespace cartpk::io {

namespace {
double positive_number(const toml::node& node, const std::string& name, const std::string& key) {
  const auto v = node.value<double>();
  if (!v || !std::isfinite(*v) || *v <= 0.0) {
    std::ostringstream found;
    if (v) found << *v;
    else found << "a " << node.type();
    throw InputError(toml_where(name, node.source()) + ": key " + key + ": found " + found.str() +
                     ", expected a finite number > 0");
  }
  return *v;
}
}  // namespace

std::vector<PriorEntry> parse_prior_text(const std::string& text, const std::string& name,
                                         const std::vector<std::string>& parameters) {
  const toml::table table = parse_toml(text, name, "a TOML prior file, see docs/priors.md");
  bool variance = true;
  if (const auto* iiv = table.get("iiv")) {
    const auto reading = iiv->value<std::string>();
    if (!reading || (*reading != "variance" && *reading != "sd"))
      throw InputError(toml_where(name, iiv->source()) + ": key iiv: expected \"variance\" or \"sd\"");
    variance = *reading == "variance";
  }
  std::vector<PriorEntry> out;
  for (const auto& [key, node] : table) {
    const std::string k(key.str());
    if (k == "iiv") continue;
    if (std::find(parameters.begin(), parameters.end(), k) == parameters.end())
      throw InputError(toml_where(name, node.source()) + ": unknown key '" + k + "'" + did_you_mean_hint(k, parameters) +
                       " (expected iiv or a parameter of the model)");
    const auto* entry = node.as_table();
    if (!entry) throw InputError(toml_where(name, node.source()) + ": key " + k + ": expected a table [" + k + "]");
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
        throw InputError(toml_where(name, value.source()) + ": unknown key '" + k + "." + f + "'" +
                         did_you_mean_hint(f, {"typical", "omega"}) + " (expected typical and omega)");
      }
    }
    if (!has_typical || !has_omega)
      throw InputError(toml_where(name, node.source()) + ": [" + k + "] needs both typical and omega");
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
