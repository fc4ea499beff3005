#include "trial/response_rules.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace cartpk::trial {

namespace {
std::string number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.10g", v);
  return buffer;
}

std::size_t column_of(const std::string& metric, const std::vector<std::string>& columns) {
  const auto it = std::find(columns.begin(), columns.end(), metric);
  if (it == columns.end()) throw std::invalid_argument("OutcomeModel: no metric column '" + metric + "'");
  return static_cast<std::size_t>(it - columns.begin());
}
}  // namespace

std::optional<Comparison> parse_comparison(std::string_view text) {
  if (text == "<") return Comparison::less;
  if (text == "<=") return Comparison::less_equal;
  if (text == ">") return Comparison::greater;
  if (text == ">=") return Comparison::greater_equal;
  return std::nullopt;
}

const char* comparison_text(Comparison c) {
  switch (c) {
    case Comparison::less: return "<";
    case Comparison::less_equal: return "<=";
    case Comparison::greater: return ">";
    case Comparison::greater_equal: return ">=";
  }
  return "?";
}

bool compare(double v, Comparison c, double threshold) {
  switch (c) {  // every comparison with NaN is false
    case Comparison::less: return v < threshold;
    case Comparison::less_equal: return v <= threshold;
    case Comparison::greater: return v > threshold;
    case Comparison::greater_equal: return v >= threshold;
  }
  return false;
}

ResponseRule default_response_rule(const std::string& late_day_text) {
  const std::string where = "default wAIHA response criteria";
  ResponseRule rule;
  rule.combine = Combine::any;
  rule.where = where;
  rule.conditions = {{"hb_change_day" + late_day_text, Comparison::greater_equal, 20.0, where},
                     {"hb_day" + late_day_text, Comparison::greater_equal, 100.0, where}};
  return rule;
}

ToxicityLink default_toxicity_link() {
  ToxicityLink link;
  link.kind = ToxicityLink::Kind::logistic;
  link.metric = "flow_cmax";
  link.intercept = kDefaultToxIntercept;
  link.slope = kDefaultToxSlope;
  link.where = "default toxicity link";
  return link;
}

std::string describe(const ResponseRule& rule) {
  std::string out;
  for (const auto& c : rule.conditions) {
    if (!out.empty()) out += rule.combine == Combine::all ? " and " : " or ";
    out += c.metric + " " + comparison_text(c.comparison) + " " + number(c.threshold);
  }
  return out;
}

std::string describe(const ToxicityLink& link) {
  if (link.kind == ToxicityLink::Kind::fixed) return "P(toxicity) = " + number(link.probability) + " for every patient";
  return "P(toxicity) = 1 / (1 + exp(-(" + number(link.intercept) + " + " + number(link.slope) + " * log10(" +
         link.metric + "))))";
}

std::vector<std::pair<std::string, std::string>> metrics_needed(const ResponseRule& rule, const ToxicityLink& link) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& c : rule.conditions) out.emplace_back(c.metric, c.where);
  if (link.kind == ToxicityLink::Kind::logistic) out.emplace_back(link.metric, link.where);
  return out;
}

OutcomeModel::OutcomeModel(ResponseRule rule, ToxicityLink link, const std::vector<std::string>& columns)
    : rule_(std::move(rule)), link_(std::move(link)) {
  if (rule_.conditions.empty()) throw std::invalid_argument("OutcomeModel: a response rule needs a condition");
  for (const auto& c : rule_.conditions) condition_columns_.push_back(column_of(c.metric, columns));
  if (link_.kind == ToxicityLink::Kind::logistic) link_column_ = column_of(link_.metric, columns);
  else if (!(link_.probability >= 0.0 && link_.probability <= 1.0))
    throw std::invalid_argument("OutcomeModel: a fixed toxicity probability must be in [0, 1]");
}

bool OutcomeModel::responds(std::span<const double> row) const {
  const bool all = rule_.combine == Combine::all;
  for (std::size_t k = 0; k < condition_columns_.size(); ++k) {
    const auto& c = rule_.conditions[k];
    const bool met = compare(row[condition_columns_[k]], c.comparison, c.threshold);
    if (all && !met) return false;
    if (!all && met) return true;
  }
  return all;
}

double OutcomeModel::toxicity_probability(std::span<const double> row) const {
  if (link_.kind == ToxicityLink::Kind::fixed) return link_.probability;
  const double value = row[link_column_];
  if (std::isnan(value)) return std::nan("");
  if (!(value > 0.0) || link_.slope == 0.0) {  // log10 -> -inf, or no dependence on the metric
    if (link_.slope > 0.0) return 0.0;
    if (link_.slope < 0.0) return 1.0;
    return 1.0 / (1.0 + std::exp(-link_.intercept));
  }
  const double z = link_.intercept + link_.slope * std::log10(value);
  // Both forms of the logistic, each where exp() cannot overflow.
  return z >= 0.0 ? 1.0 / (1.0 + std::exp(-z)) : std::exp(z) / (1.0 + std::exp(z));
}

}  // namespace cartpk::trial
