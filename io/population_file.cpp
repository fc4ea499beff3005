#include "io/population_file.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "io/did_you_mean.hpp"
#include "io/toml_support.hpp"

namespace cartpk::io {

namespace {
std::string found_text(const toml::node& node) {
  std::ostringstream found;
  if (auto v = node.value<double>()) found << *v;
  else if (auto s = node.value<std::string>()) found << "'" << *s << "'";
  else found << "a " << node.type();
  return found.str();
}

double number(const toml::node& node, const std::string& name, const std::string& key, const std::string& expected,
              bool (*ok)(double)) {
  const auto v = node.value<double>();
  if (!v || !std::isfinite(*v) || !ok(*v))
    throw InputError(toml_where(name, node.source()) + ": key " + key + ": found " + found_text(node) + ", expected " +
                     expected);
  return *v;
}

std::vector<std::string> parameter_names(const Model& model) {
  std::vector<std::string> names;
  for (const auto& p : model.parameters()) names.emplace_back(p.name);
  return names;
}

int parameter(const Model& model, const std::string& p, const toml::node& node, const std::string& name,
              const std::string& key) {
  const int index = model.parameter_index(p);
  if (index < 0)
    throw InputError(toml_where(name, node.source()) + ": key " + key + ": model " + std::string(model.name()) +
                     " has no parameter '" + p + "'" + did_you_mean_hint(p, parameter_names(model)));
  return index;
}

void unknown_key(const toml::node& node, const std::string& name, const std::string& key,
                 const std::vector<std::string>& expected) {
  std::string list;
  for (const auto& e : expected) list += (list.empty() ? "" : ", ") + e;
  const std::string leaf = key.substr(key.rfind('.') + 1);  // npos + 1 = 0: the whole key
  throw InputError(toml_where(name, node.source()) + ": unknown key '" + key + "'" + did_you_mean_hint(leaf, expected) +
                   " (expected " + list + ")");
}

// Entries of a table in the order the file writes them (toml++ keeps tables sorted by key).
std::vector<std::pair<std::string, const toml::node*>> in_file_order(const toml::table& table) {
  std::vector<std::pair<std::string, const toml::node*>> entries;
  for (const auto& [key, node] : table) entries.emplace_back(std::string(key.str()), &node);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.second->source().begin < b.second->source().begin;
  });
  return entries;
}
}  // namespace

std::string read_text_file(const std::filesystem::path& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string() + ": cannot open the " + what + " (expected a readable TOML file)");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

PopulationModel parse_iiv_text(const std::string& text, const std::string& name, const Model& model) {
  const toml::table doc = parse_toml(text, name, "a TOML IIV file, see docs/vpop.md");
  PopulationModel population{&model, model.default_parameters(), {}, {}, {}, name, {}, {}, {}};
  std::vector<double> variances;
  std::vector<std::string> effect_lines;  // "file:line: key iiv.NAME" of each random effect
  std::vector<std::tuple<int, int, double, std::string>> correlations;  // (effect a, effect b, r, where)
  for (const auto& [key, node] : in_file_order(doc)) {
    if (key == "iiv") {
      const auto* table = node->as_table();
      if (!table) throw InputError(toml_where(name, node->source()) + ": key iiv: expected a table [iiv]");
      for (const auto& [p, entry] : in_file_order(*table)) {
        const int index = parameter(model, p, *entry, name, "iiv." + p);
        const auto* spec = entry->as_table();
        if (!spec || spec->size() != 1)
          throw InputError(toml_where(name, entry->source()) + ": key iiv." + p +
                           ": expected one of { omega2 = VARIANCE }, { cv = PERCENT } or { sd = LOG-SD }");
        double omega2 = 0.0;
        for (const auto& [field, value] : *spec) {  // exactly one entry
          const std::string f(field.str()), k = "iiv." + p + "." + f;
          const auto positive = [](double v) { return v > 0.0; };
          if (f == "omega2") omega2 = number(value, name, k, "a variance > 0 (of log " + p + ")", positive);
          else if (f == "sd") omega2 = std::pow(number(value, name, k, "a log-scale SD > 0", positive), 2);
          else if (f == "cv") omega2 = std::log1p(std::pow(number(value, name, k, "a CV in percent > 0", positive) / 100.0, 2));
          else unknown_key(value, name, k, {"omega2", "cv", "sd"});
        }
        if (std::find(population.random_effects.begin(), population.random_effects.end(), index) !=
            population.random_effects.end())
          throw InputError(toml_where(name, entry->source()) + ": parameter " + p + " has IIV twice");
        population.random_effects.push_back(index);
        variances.push_back(omega2);
        effect_lines.push_back(toml_where(name, entry->source()) + ": key iiv." + p);
      }
    } else if (key == "typical") {
      const auto* table = node->as_table();
      if (!table) throw InputError(toml_where(name, node->source()) + ": key typical: expected a table [typical]");
      for (const auto& [p, entry] : in_file_order(*table)) {
        const int index = parameter(model, p, *entry, name, "typical." + p);
        const auto& spec = model.parameters()[static_cast<std::size_t>(index)];
        const auto v = entry->value<double>();
        if (!v || !std::isfinite(*v) || !in_domain(spec.domain, *v))
          throw InputError(toml_where(name, entry->source()) + ": key typical." + p + ": found " + found_text(*entry) +
                           ", expected " + std::string(domain_name(spec.domain)));
        population.typical[static_cast<std::size_t>(index)] = *v;
      }
    } else if (key == "correlation") {
      const auto* list = node->as_array();
      if (!list) throw InputError(toml_where(name, node->source()) + ": key correlation: expected [[correlation]] tables");
      for (const auto& item : *list) {
        const auto* t = item.as_table();
        if (!t) throw InputError(toml_where(name, item.source()) + ": key correlation: expected a table");
        std::string a, b;
        double r = std::nan("");
        for (const auto& [field, value] : *t) {
          const std::string f(field.str());
          if (f == "a" || f == "b") {
            const auto s = value.value<std::string>();
            if (!s) throw InputError(toml_where(name, value.source()) + ": key correlation." + f + ": expected a parameter name");
            (f == "a" ? a : b) = *s;
            (void)parameter(model, *s, value, name, "correlation." + f);
          } else if (f == "r") {
            r = number(value, name, "correlation.r", "a correlation in (-1, 1)", [](double v) { return v > -1.0 && v < 1.0; });
          } else {
            unknown_key(value, name, "correlation." + f, {"a", "b", "r"});
          }
        }
        if (a.empty() || b.empty() || std::isnan(r) || a == b)
          throw InputError(toml_where(name, item.source()) + ": a correlation needs a, b (two different parameters) and r");
        correlations.emplace_back(model.parameter_index(a), model.parameter_index(b), r, toml_where(name, item.source()));
      }
    } else if (key == "covariate") {
      const auto* list = node->as_array();
      if (!list) throw InputError(toml_where(name, node->source()) + ": key covariate: expected [[covariate]] tables");
      for (const auto& item : *list) {
        const auto* t = item.as_table();
        if (!t) throw InputError(toml_where(name, item.source()) + ": key covariate: expected a table");
        CovariateRelation relation;
        bool has_parameter = false, has_coefficient = false;
        for (const auto& [field, value] : *t) {
          const std::string f(field.str());
          const auto s = value.value<std::string>();
          if (f == "parameter") {
            if (!s) throw InputError(toml_where(name, value.source()) + ": key covariate.parameter: expected a parameter name");
            relation.parameter = parameter(model, *s, value, name, "covariate.parameter");
            has_parameter = true;
          } else if (f == "covariate") {
            if (!s || s->empty()) throw InputError(toml_where(name, value.source()) + ": key covariate.covariate: expected a covariate name (e.g. \"WT\")");
            relation.covariate = *s;
          } else if (f == "form") {
            if (!s || (*s != "power" && *s != "exponential"))
              throw InputError(toml_where(name, value.source()) + ": key covariate.form: found " + found_text(value) +
                               ", expected \"power\" or \"exponential\"");
            relation.form = *s == "power" ? CovariateForm::power : CovariateForm::exponential;
          } else if (f == "coefficient") {
            relation.coefficient = number(value, name, "covariate.coefficient", "a number", [](double) { return true; });
            has_coefficient = true;
          } else if (f == "reference") {
            relation.reference = number(value, name, "covariate.reference", "a number > 0", [](double v) { return v > 0.0; });
          } else {
            unknown_key(value, name, "covariate." + f, {"parameter", "covariate", "form", "coefficient", "reference"});
          }
        }
        if (!has_parameter || !has_coefficient || relation.covariate.empty())
          throw InputError(toml_where(name, item.source()) + ": a covariate relation needs parameter, covariate and coefficient");
        population.relations.push_back(relation);
      }
    } else {
      unknown_key(*node, name, key, {"iiv", "typical", "correlation", "covariate"});
    }
  }
  if (variances.empty()) throw InputError(name + ": no [iiv] entries (expected at least one parameter with omega2, cv or sd)");
  const auto n = static_cast<Eigen::Index>(variances.size());
  population.omega = Eigen::MatrixXd::Zero(n, n);
  for (Eigen::Index i = 0; i < n; ++i) population.omega(i, i) = variances[static_cast<std::size_t>(i)];
  auto effect = [&](int index, const std::string& where) {
    const auto it = std::find(population.random_effects.begin(), population.random_effects.end(), index);
    if (it == population.random_effects.end())
      throw InputError(where + ": correlation on " + std::string(model.parameters()[static_cast<std::size_t>(index)].name) +
                       ", which has no [iiv] entry");
    return static_cast<Eigen::Index>(it - population.random_effects.begin());
  };
  for (const auto& [a, b, r, where] : correlations) {
    const Eigen::Index i = effect(a, where), j = effect(b, where);
    population.omega(i, j) = population.omega(j, i) = r * std::sqrt(population.omega(i, i) * population.omega(j, j));
  }
  for (std::size_t e = 0; e < population.random_effects.size(); ++e) {  // each with its own line
    const auto index = static_cast<std::size_t>(population.random_effects[e]);
    if (!(population.typical[index] > 0.0) || model.parameters()[index].domain == Domain::real)
      throw InputError(effect_lines[e] + ": " + std::string(model.parameters()[index].name) + " has typical value " +
                       number_text(population.typical[index]) +
                       " (domain: " + std::string(domain_name(model.parameters()[index].domain)) +
                       "), expected a typical value > 0 for log-normal variability");
  }
  population.validate(name);
  return population;
}

PopulationModel read_iiv_file(const std::filesystem::path& path, const Model& model) {
  return parse_iiv_text(read_text_file(path, "IIV file"), path.string(), model);
}

std::vector<Scenario> parse_scenarios_text(const std::string& text, const std::string& name) {
  const toml::table doc = parse_toml(text, name, "a TOML scenarios file, see docs/vpop.md");
  std::vector<Scenario> scenarios;
  for (const auto& [key, node] : in_file_order(doc)) {
    if (key != "scenario") unknown_key(*node, name, key, {"scenario"});
    const auto* table = node->as_table();
    if (!table) throw InputError(toml_where(name, node->source()) + ": key scenario: expected [scenario.NAME] tables");
    for (const auto& [scenario_name, entry] : in_file_order(*table)) {
      const auto* fields = entry->as_table();
      if (!fields) throw InputError(toml_where(name, entry->source()) + ": key scenario." + scenario_name + ": expected a table");
      Scenario s;
      s.name = scenario_name;
      s.origin = toml_where(name, entry->source()) + ": scenario " + scenario_name;
      for (const auto& [field, value] : in_file_order(*fields)) {
        const std::string k = "scenario." + scenario_name + "." + field;
        if (field == "dose_per_kg") {
          s.dose_per_kg = number(*value, name, k, "a dose in cells/kg > 0", [](double v) { return v > 0.0; });
        } else if (field == "product") {
          const auto v = value->value<std::string>();
          if (!v) throw InputError(toml_where(name, value->source()) + ": key " + k + ": expected a product preset name");
          s.product = *v;
        } else if (field == "lymphodepletion") {
          const auto v = value->value<bool>();
          if (!v) throw InputError(toml_where(name, value->source()) + ": key " + k + ": found " + found_text(*value) + ", expected true or false");
          s.lymphodepletion = *v;
        } else if (field == "schedule") {
          const auto* list = value->as_array();
          if (!list) throw InputError(toml_where(name, value->source()) + ": key " + k + ": expected [[day, fraction], ...]");
          for (const auto& pair : *list) {
            const auto* dp = pair.as_array();
            const auto day = dp && dp->size() == 2 ? (*dp)[0].value<double>() : std::nullopt;
            const auto fraction = dp && dp->size() == 2 ? (*dp)[1].value<double>() : std::nullopt;
            if (!day || !fraction || *day < 0.0 || !(*fraction > 0.0))
              throw InputError(toml_where(name, pair.source()) + ": key " + k +
                               ": expected [day >= 0, fraction > 0] pairs, e.g. [[0, 0.1], [1, 0.3], [2, 0.6]]");
            s.schedule.emplace_back(*day, *fraction);
          }
        } else if (field == "parameters") {
          const auto* overrides = value->as_table();
          if (!overrides) throw InputError(toml_where(name, value->source()) + ": key " + k + ": expected a table of parameter = value");
          for (const auto& [p, v] : in_file_order(*overrides))
            s.overrides.emplace_back(p, number(*v, name, k + "." + p, "a number", [](double x) { return std::isfinite(x); }));
        } else {
          unknown_key(*value, name, k, {"dose_per_kg", "schedule", "product", "lymphodepletion", "parameters"});
        }
      }
      scenarios.push_back(std::move(s));
    }
  }
  if (scenarios.empty()) throw InputError(name + ": no [scenario.NAME] tables (expected at least one scenario)");
  return scenarios;
}

std::vector<Scenario> read_scenarios_file(const std::filesystem::path& path) {
  return parse_scenarios_text(read_text_file(path, "scenarios file"), path.string());
}

}  // namespace cartpk::io
