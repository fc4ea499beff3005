#include "io/population_h5.hpp"

#include <algorithm>

#include "pkmodel/errors.hpp"

namespace cartpk::io {

namespace {
// The categorical covariates' distributions as flat rows, one per (covariate, level).
void write_categories(const H5Group& group, const std::vector<CategoryDistribution>& categories) {
  std::vector<std::string> covariates, levels;
  std::vector<double> probabilities;
  for (const auto& c : categories)
    for (std::size_t k = 0; k < c.levels.size(); ++k) {
      covariates.push_back(c.name);
      levels.push_back(c.levels[k]);
      probabilities.push_back(c.probabilities[k]);
    }
  group.write("category_covariate", covariates);
  group.write("category_level", levels);
  group.write("category_probability", probabilities, "-");
}

// The rows back into one distribution per covariate, in the order the covariates first appear; absent in files
// written before them: none.
std::vector<CategoryDistribution> read_categories(const H5Reader& file, const std::string& path) {
  if (!file.exists(path + "/category_covariate")) return {};
  const auto covariates = file.read_strings(path + "/category_covariate");
  const auto levels = file.read_strings(path + "/category_level");
  const auto probabilities = file.read_doubles(path + "/category_probability");
  if (levels.size() != covariates.size() || probabilities.size() != covariates.size())
    throw InputError(file.file() + ": " + path + "/category_probability: category_covariate, category_level and "
                     "category_probability have " + std::to_string(covariates.size()) + ", " +
                     std::to_string(levels.size()) + " and " + std::to_string(probabilities.size()) +
                     " rows (expected one row per covariate and level in each)");
  std::vector<CategoryDistribution> out;
  for (std::size_t k = 0; k < covariates.size(); ++k) {
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& c) { return c.name == covariates[k]; });
    if (it == out.end()) it = out.insert(out.end(), CategoryDistribution{covariates[k], {}, {}});
    it->levels.push_back(levels[k]);
    it->probabilities.push_back(probabilities[k]);
  }
  return out;
}
}  // namespace

void write_population(const H5Group& group, const PopulationModel& population) {
  const Model& model = *population.model;
  std::vector<std::string> names, effects, relation_parameters, relation_covariates, relation_forms, relation_levels;
  std::vector<double> references, coefficients;
  for (const auto& p : model.parameters()) names.emplace_back(p.name);
  for (int e : population.random_effects) effects.push_back(names[static_cast<std::size_t>(e)]);
  for (const auto& r : population.relations) {
    relation_parameters.push_back(names[static_cast<std::size_t>(r.parameter)]);
    relation_covariates.push_back(r.covariate);
    relation_forms.emplace_back(covariate_form_name(r.form));
    relation_levels.push_back(r.level);
    references.push_back(r.reference);
    coefficients.push_back(r.coefficient);
  }
  group.attribute("model", model.name());
  group.attribute("source", population.source);
  group.attribute("iiv", "parameter = typical * exp(eta) (log), logit^-1(logit(typical) + eta) (logit) or typical + "
                         "eta (additive), per random_effect_scales; eta ~ N(0, omega)");
  group.write("parameter_names", names);
  std::vector<std::string> units;
  for (const auto& p : model.parameters()) units.emplace_back(p.unit);
  group.write("parameter_units", units);
  group.write("typical", population.typical, "see parameter_units");
  group.write("random_effects", effects);
  group.write("omega", population.omega, "scale of each random effect (random_effect_scales)");
  std::vector<std::string> scales;
  for (std::size_t k = 0; k < population.random_effects.size(); ++k)
    scales.emplace_back(eta_scale_name(population.eta_scales.empty() ? EtaScale::log : population.eta_scales[k]));
  group.write("random_effect_scales", scales);
  group.write("relation_parameter", relation_parameters);
  group.write("relation_covariate", relation_covariates);
  group.write("relation_form", relation_forms);
  group.write("relation_reference", references, "covariate units");
  group.write("relation_coefficient", coefficients, "-");
  group.write("relation_level", relation_levels);
  write_categories(group, population.categories);
  if (!population.empirical.empty()) {  // an empirical population: its patients' parameter vectors
    Eigen::MatrixXd rows(static_cast<Eigen::Index>(population.empirical.size()), static_cast<Eigen::Index>(names.size()));
    for (std::size_t r = 0; r < population.empirical.size(); ++r)
      for (std::size_t c = 0; c < names.size(); ++c)
        rows(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = population.empirical[r][c];
    group.write("empirical", rows, "see parameter_units");
  }
}

PopulationModel read_population(const H5Reader& file, const std::string& path, const Model& model) {
  const std::string where = file.file() + ": " + path;
  const auto names = file.read_strings(path + "/parameter_names");
  auto index = [&](const std::string& name, const char* what) {
    const int i = model.parameter_index(name);
    if (i < 0)
      throw InputError(where + ": " + what + " '" + name + "' is not a parameter of model " + std::string(model.name()) +
                       " (the file was written for another model)");
    return i;
  };
  PopulationModel population{&model, model.default_parameters(), {}, {}, {}, file.file(), {}, {}, {}};
  const auto typical = file.read_doubles(path + "/typical");
  if (typical.size() != names.size()) throw InputError(where + ": typical and parameter_names differ in length");
  for (std::size_t k = 0; k < names.size(); ++k)
    population.typical[static_cast<std::size_t>(index(names[k], "parameter"))] = typical[k];
  for (const auto& e : file.read_strings(path + "/random_effects")) population.random_effects.push_back(index(e, "random effect"));
  population.omega = population.random_effects.empty() ? Eigen::MatrixXd() : file.read_matrix(path + "/omega");
  if (file.exists(path + "/random_effect_scales"))  // absent in files before it was written: all log
    for (const auto& s : file.read_strings(path + "/random_effect_scales")) {
      if (s != "log" && s != "logit" && s != "additive")
        throw InputError(where + "/random_effect_scales: found '" + s + "', expected log, logit or additive");
      population.eta_scales.push_back(s == "log" ? EtaScale::log : s == "logit" ? EtaScale::logit : EtaScale::additive);
    }
  const auto parameters = file.read_strings(path + "/relation_parameter");
  const auto covariates = file.read_strings(path + "/relation_covariate");
  const auto forms = file.read_strings(path + "/relation_form");
  const auto references = file.read_doubles(path + "/relation_reference");
  const auto coefficients = file.read_doubles(path + "/relation_coefficient");
  // Absent in files written before categorical relations: every relation is continuous.
  const auto levels = file.exists(path + "/relation_level") ? file.read_strings(path + "/relation_level")
                                                            : std::vector<std::string>(parameters.size());
  for (std::size_t k = 0; k < parameters.size(); ++k) {
    const std::string& form = forms.at(k);
    if (form != "power" && form != "exponential" && form != "categorical")
      throw InputError(where + "/relation_form: found '" + form + "', expected power, exponential or categorical");
    population.relations.push_back({index(parameters[k], "covariate relation on"), covariates.at(k),
                                     form == "power" ? CovariateForm::power
                                     : form == "exponential" ? CovariateForm::exponential : CovariateForm::categorical,
                                     references.at(k), coefficients.at(k), levels.at(k)});
  }
  population.categories = read_categories(file, path);
  if (file.exists(path + "/empirical")) {
    const auto rows = file.read_matrix(path + "/empirical");
    if (static_cast<std::size_t>(rows.cols()) != names.size()) throw InputError(where + ": empirical has the wrong number of columns");
    for (Eigen::Index r = 0; r < rows.rows(); ++r) {
      auto p = population.typical;
      for (std::size_t c = 0; c < names.size(); ++c)
        p[static_cast<std::size_t>(index(names[c], "parameter"))] = rows(r, static_cast<Eigen::Index>(c));
      population.empirical.push_back(std::move(p));
    }
  }
  population.validate(where);
  return population;
}

PopulationModel read_population_file(const std::filesystem::path& path, const Model& model) {
  const H5Reader file(path);
  const std::string name = path.string();
  if (file.has_attribute("/", "model") && file.string_attribute("/", "model") != model.name())
    throw InputError(name + ": made for model " + file.string_attribute("/", "model") + ", expected a result of model " +
                     std::string(model.name()) + " (--model)");
  if (file.exists("/vpop/population")) {
    auto population = read_population(file, "/vpop/population", model);
    population.require_category_distributions(name + ": /vpop/population");
    return population;
  }
  if (file.exists("/popfit/population")) {
    auto population = read_population(file, "/popfit/population", model);
    // Files before /popfit/population held categorical relations left them out: refused rather than dropped.
    if (file.exists("/popfit/parameters/kinds")) {
      const auto kinds = file.read_strings("/popfit/parameters/kinds");
      if (static_cast<std::size_t>(std::count(kinds.begin(), kinds.end(), "beta")) != population.relations.size())
        throw InputError(name + ": the population fit has categorical covariate effects that this file does not "
                         "record in /popfit/population (written by an older cartpk; fit again)");
    }
    population.require_category_distributions(name + ": /popfit/population");
    return population;
  }
  if (!file.exists("/fit/subjects"))
    throw InputError(name + ": expected a cartpk vpop result (/vpop/population), popfit result (/popfit/population) or fit result (/fit/subjects)");
  PopulationModel population{&model, model.default_parameters(), {}, {}, {}, name + " (fitted subjects, resampled)", {}, {}, {}};
  const auto fixed = file.read_strings("/fit/parameters/fixed");
  const auto fixed_values = file.read_doubles("/fit/parameters/fixed_values");
  for (std::size_t k = 0; k < fixed.size() && k < fixed_values.size(); ++k)
    if (const int i = model.parameter_index(fixed[k]); i >= 0) population.typical[static_cast<std::size_t>(i)] = fixed_values[k];
  for (const auto& group : file.children("/fit/subjects")) {
    const std::string at = "/fit/subjects/" + group;
    if (file.string_attribute(at, "status") != "ok" || !file.exists(at + "/estimates")) continue;
    auto p = population.typical;
    const auto names = file.read_strings(at + "/names");
    const auto estimates = file.read_doubles(at + "/estimates");
    for (std::size_t k = 0; k < names.size() && k < estimates.size(); ++k)
      if (const int i = model.parameter_index(names[k]); i >= 0) p[static_cast<std::size_t>(i)] = estimates[k];
    population.empirical.push_back(std::move(p));
  }
  if (population.empirical.empty()) throw InputError(name + ": no subject was fitted ok (expected at least one to resample)");
  population.validate(name);
  return population;
}

}  // namespace cartpk::io
