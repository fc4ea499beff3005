#include "pkmodel/cart_metrics.hpp"

#include "pkmodel/metrics.hpp"

namespace cartpk::metrics {

namespace {
std::vector<double> column(const SimulationResult& result, int j) {
  const auto c = result.observables.col(j);
  return {c.begin(), c.end()};
}
double or_nan(const std::optional<double>& v) { return v ? *v : std::nan(""); }
}  // namespace

std::vector<Metric> cart_metrics(const Model& model, const std::vector<double>& parameters,
                                 const SimulationResult& result) {
  std::vector<Metric> out;
  const auto& t = result.times_day;
  const std::string auc_name = "auc_0_" + std::to_string(static_cast<int>(kAucEndDay));
  for (const char* name : {"flow", "qpcr"}) {
    const int j = model.observable_index(name);
    if (j < 0) continue;
    const auto v = column(result, j);
    const std::string unit(model.observables()[static_cast<std::size_t>(j)].unit);
    const auto pk = peak(t, v);
    out.push_back({std::string(name) + "_cmax", pk.value, unit, "peak CAR-T level"});
    out.push_back({std::string(name) + "_tmax", pk.time_day, "day", "time of the peak"});
    out.push_back({std::string(name) + "_" + auc_name, t.back() >= kAucEndDay ? auc(t, v, 0.0, kAucEndDay) : std::nan(""),
                   unit + "·day", "area under the curve, days 0-28 (linear trapezoids)"});
  }
  if (const int j = model.observable_index("bcell"); j >= 0) {
    const auto b = column(result, j);
    const int ib0 = model.parameter_index("b0");
    const double b0 = ib0 >= 0 ? parameters[static_cast<std::size_t>(ib0)] : b.front();
    const auto start = first_time_below(t, b, kAplasiaThreshold);
    const auto end = start ? first_time_at_or_above(t, b, kAplasiaThreshold, *start) : std::nullopt;
    const auto recovery = start ? first_time_at_or_above(t, b, kRecoveryFraction * b0, *start) : std::nullopt;
    out.push_back({"bcell_aplasia_start", or_nan(start), "day", "first day with B cells < 1 cell/µL"});
    out.push_back({"bcell_aplasia_duration", start && end ? *end - *start : std::nan(""), "day",
                   "days with B cells < 1 cell/µL (NaN: no aplasia, or not over by the last time)"});
    out.push_back({"bcell_recovery_50pct", or_nan(recovery), "day", "first day after aplasia with B cells >= 50 % of b0"});
  }
  if (const int j = model.observable_index("autoab"); j >= 0 && t.back() >= kLateDay)
    out.push_back({"autoab_day90", value_at(t, column(result, j), kLateDay), "fraction of baseline",
                   "autoantibody at day 90"});
  if (const int j = model.observable_index("hb"); j >= 0 && t.back() >= kLateDay) {
    const auto hb = column(result, j);
    out.push_back({"hb_change_day90", value_at(t, hb, kLateDay) - hb.front(), "g/L", "hemoglobin change, day 0 to 90"});
  }
  return out;
}

}  // namespace cartpk::metrics
