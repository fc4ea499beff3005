#include "pkmodel/cart_metrics.hpp"

#include "pkmodel/errors.hpp"
#include "pkmodel/metrics.hpp"

namespace cartpk::metrics {

namespace {
double or_nan(const std::optional<double>& v) { return v ? *v : std::nan(""); }

std::string day_text(double day) { return number_text(day); }

// Last sampled time at or above `level` (interpolated to the crossing after it); NaN when never at or above.
double last_time_at_or_above(std::span<const double> t, std::span<const double> v, double level) {
  for (std::size_t k = v.size(); k-- > 0;) {
    if (v[k] < level) continue;
    if (k + 1 == v.size()) return t[k];  // still above at the end
    return t[k] + (t[k + 1] - t[k]) * (v[k] - level) / (v[k] - v[k + 1]);
  }
  return std::nan("");
}

// One place that knows each metric: its column, and how to compute it from a column of observables.
struct Context {
  const Model& model;
  const MetricSettings& s;
  std::span<const double> p;
  const SimulationResult* r;  // null when only the columns are wanted
};

// emit(describe, value): `describe()` gives the column (name, unit, meaning) and is called only by those who want
// it, so computing a patient's metrics builds no strings.
template <class Emit>
void each_metric(const Context& c, Emit emit) {
  const auto series = [&](int j) {
    const auto col = c.r->observables.col(j);
    return std::span<const double>(col.data(), static_cast<std::size_t>(col.size()));
  };
  const auto late = [&] { return "day" + day_text(c.s.late_day); };
  for (const char* name : {"flow", "qpcr"}) {
    const int j = c.model.observable_index(name);
    if (j < 0) continue;
    const auto unit = [&] { return std::string(c.model.observables()[static_cast<std::size_t>(j)].unit); };
    Peak pk{std::nan(""), std::nan("")};
    if (c.r) pk = peak(c.r->times_day, series(j));
    emit([&] { return MetricColumn{std::string(name) + "_cmax", unit(), "peak CAR-T level"}; }, pk.value);
    emit([&] { return MetricColumn{std::string(name) + "_tmax", "day", "time of the peak"}; }, pk.time_day);
    emit([&] {
           return MetricColumn{std::string(name) + "_auc_0_" + day_text(c.s.auc_end_day), unit() + "·day",
                               "area under the curve, days 0-" + day_text(c.s.auc_end_day) + " (linear trapezoids)"};
         },
         c.r && c.r->times_day.back() >= c.s.auc_end_day ? auc(c.r->times_day, series(j), 0.0, c.s.auc_end_day)
                                                          : std::nan(""));
    if (std::string_view(name) == "qpcr")
      emit([&] {
             return MetricColumn{"qpcr_persistence", "day", "last day with qPCR >= " + number_text(c.s.qpcr_lloq) +
                                                                " copies/µg (NaN: never; the last time if still above)"};
           },
           c.r ? last_time_at_or_above(c.r->times_day, series(j), c.s.qpcr_lloq) : std::nan(""));
  }
  if (const int j = c.model.observable_index("bcell"); j >= 0) {
    std::optional<double> start, end, recovery;
    if (c.r) {
      const auto b = series(j);
      const int ib0 = c.model.parameter_index("b0");
      const double b0 = ib0 >= 0 ? c.p[static_cast<std::size_t>(ib0)] : b.front();
      start = first_time_below(c.r->times_day, b, c.s.aplasia_threshold);
      end = start ? first_time_at_or_above(c.r->times_day, b, c.s.aplasia_threshold, *start) : std::nullopt;
      recovery = start ? first_time_at_or_above(c.r->times_day, b, c.s.recovery_fraction * b0, *start) : std::nullopt;
    }
    const auto below = [&] { return "B cells < " + number_text(c.s.aplasia_threshold) + " cell/µL"; };
    const auto percent = [&] { return number_text(100.0 * c.s.recovery_fraction); };
    emit([&] { return MetricColumn{"bcell_aplasia_start", "day", "first day with " + below()}; }, or_nan(start));
    emit([&] {
           return MetricColumn{"bcell_aplasia_duration", "day",
                               "days with " + below() + " (NaN: no aplasia, or not over by the last time)"};
         },
         start && end ? *end - *start : std::nan(""));
    emit([&] {
           return MetricColumn{"bcell_recovery_" + percent() + "pct", "day",
                               "first day after aplasia with B cells >= " + percent() + " % of b0"};
         },
         or_nan(recovery));
  }
  const bool late_reached = c.r && c.r->times_day.back() >= c.s.late_day;
  if (const int j = c.model.observable_index("autoab"); j >= 0)
    emit([&] { return MetricColumn{"autoab_" + late(), "fraction of baseline", "autoantibody at day " + day_text(c.s.late_day)}; },
         late_reached ? value_at(c.r->times_day, series(j), c.s.late_day) : std::nan(""));
  if (const int j = c.model.observable_index("hb"); j >= 0) {
    emit([&] { return MetricColumn{"hb_change_" + late(), "g/L", "hemoglobin change, day 0 to " + day_text(c.s.late_day)}; },
         late_reached ? value_at(c.r->times_day, series(j), c.s.late_day) - series(j).front() : std::nan(""));
    emit([&] { return MetricColumn{"hb_" + late(), "g/L", "hemoglobin at day " + day_text(c.s.late_day)}; },
         late_reached ? value_at(c.r->times_day, series(j), c.s.late_day) : std::nan(""));
  }
}
}  // namespace

std::vector<MetricColumn> metric_columns(const Model& model, const MetricSettings& settings) {
  std::vector<MetricColumn> columns;
  each_metric(Context{model, settings, {}, nullptr}, [&](auto describe, double) { columns.push_back(describe()); });
  return columns;
}

void compute_metrics(const Model& model, const MetricSettings& settings, std::span<const double> parameters,
                     const SimulationResult& result, std::span<double> out) {
  std::size_t k = 0;
  each_metric(Context{model, settings, parameters, &result}, [&](auto, double value) {
    if (k < out.size()) out[k] = value;
    ++k;
  });
  if (k != out.size()) throw std::logic_error("compute_metrics: output sized for another model or settings");
}

std::vector<Metric> cart_metrics(const Model& model, const std::vector<double>& parameters,
                                 const SimulationResult& result, const MetricSettings& settings) {
  std::vector<Metric> out;
  each_metric(Context{model, settings, parameters, &result}, [&](auto describe, double value) {
    auto column = describe();
    out.push_back({std::move(column.name), value, std::move(column.unit), std::move(column.meaning)});
  });
  return out;
}

}  // namespace cartpk::metrics
