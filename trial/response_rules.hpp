#pragma once
// How a virtual patient's kinetics become trial outcomes: a response rule (conditions on metrics, combined by
// all/any; deterministic) and a toxicity link (the probability of a qualifying toxicity, from a metric through a
// logistic in log10, or fixed). Metric names are data: they are resolved against a pool's metric columns once
// (OutcomeModel), then every patient row is evaluated by column index.
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cartpk::trial {

enum class Comparison { less, less_equal, greater, greater_equal };
enum class Combine { all, any };

std::optional<Comparison> parse_comparison(std::string_view text);  // "<", "<=", ">", ">="
const char* comparison_text(Comparison comparison);
// value (comparison) threshold; false when value is NaN (a metric not reached does not meet a condition).
bool compare(double value, Comparison comparison, double threshold);

struct Condition {
  std::string metric;
  Comparison comparison = Comparison::greater_equal;
  double threshold = 0.0;
  std::string where;  // where it was defined ("file:line"), for messages
};

struct ResponseRule {
  std::vector<Condition> conditions;  // at least one
  Combine combine = Combine::any;
  std::string where;
};

struct ToxicityLink {
  enum class Kind { logistic, fixed };
  Kind kind = Kind::logistic;
  std::string metric = "flow_cmax";  // logistic: P = 1 / (1 + exp(-(intercept + slope · log10(metric))))
  double intercept = 0.0;
  double slope = 0.0;
  double probability = 0.0;          // fixed: the same probability for every patient
  std::string where;
};

// The wAIHA response criteria at the late read-out day: hemoglobin >= 100 g/L or a rise >= 20 g/L (metrics
// hb_dayD and hb_change_dayD of pkmodel/cart_metrics, D = late_day as the metric names write it).
ResponseRule default_response_rule(const std::string& late_day_text = "90");
// Logistic in log10 of the flow Cmax (cells/µL) with the documented default coefficients (docs/designs.md).
ToxicityLink default_toxicity_link();
inline constexpr double kDefaultToxIntercept = -2.8;  // logit P at a flow Cmax of 1 cell/µL
inline constexpr double kDefaultToxSlope = 1.5;       // per log10(cells/µL): odds x4.5 per tenfold Cmax

std::string describe(const ResponseRule& rule);  // "hb_change_day90 >= 20 or hb_day90 >= 100"
std::string describe(const ToxicityLink& link);

// The metrics a rule and link read, each with where it was named (for checking a pool has them).
std::vector<std::pair<std::string, std::string>> metrics_needed(const ResponseRule& rule, const ToxicityLink& link);

// A rule and link resolved against metric columns. std::invalid_argument when a metric is missing (check with
// metrics_needed first to report it well).
class OutcomeModel {
 public:
  OutcomeModel(ResponseRule rule, ToxicityLink link, const std::vector<std::string>& columns);
  [[nodiscard]] bool responds(std::span<const double> row) const;
  // In [0, 1]; NaN when the link's metric is NaN for this patient (not evaluable). A metric <= 0 has
  // log10 = -inf: P = 0 for a positive slope, 1 for a negative one, logistic(intercept) for slope 0.
  [[nodiscard]] double toxicity_probability(std::span<const double> row) const;
  [[nodiscard]] const ResponseRule& rule() const { return rule_; }
  [[nodiscard]] const ToxicityLink& link() const { return link_; }

 private:
  ResponseRule rule_;
  ToxicityLink link_;
  std::vector<std::size_t> condition_columns_;
  std::size_t link_column_ = 0;
};

}  // namespace cartpk::trial
