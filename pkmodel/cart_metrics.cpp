#include "pkmodel/cart_metrics.hpp"

#include <algorithm>

#include "pkmodel/errors.hpp"
#include "pkmodel/metrics.hpp"

namespace cartpk::metrics {

namespace {
double or_nan(const std::optional<double>& v) { return v ? *v : std::nan(""); }

std::string day_text(double day) { return number_text(day); }

// Last sampled time at or above `level` (interpolated to the crossing after it); NaN when never at or above.
// (With dy/dt `r`, the last crossing is located like the others: on the Hermite interpolant.)
double last_time_at_or_above(std::span<const double> t, std::span<const double> v, double level,
                             std::span<const double> r) {
  for (std::size_t k = v.size(); k-- > 0;) {
    if (v[k] < level) continue;
    if (k + 1 == v.size()) return t[k];  // still above at the end
    return first_time_below(t, v, level, t[k], r).value_or(t[k]);
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
  // dy/dt at the outputs where the solver gave it, but not at the ends of an interval with a jump or kink inside
  // or at its end (a dose, an infusion's start or end, a model event): there the Hermite interpolant does not hold.
  std::vector<double> rate_buffer;
  const auto rates = [&](int j) -> std::span<const double> {
    const auto& t = c.r->times_day;
    if (c.r->observable_rates.rows() != static_cast<Eigen::Index>(t.size())) return {};
    const auto given = c.r->observable_rates.col(j);
    if (given.array().isNaN().all()) return {};  // none given (the closed form): the same as all unknown
    rate_buffer.resize(t.size());
    for (std::size_t k = 0; k < t.size(); ++k) rate_buffer[k] = c.r->observable_rates(static_cast<Eigen::Index>(k), j);
    for (double d : c.r->discontinuities_day) {
      const auto k = static_cast<std::size_t>(std::lower_bound(t.begin(), t.end(), d) - t.begin());
      for (std::size_t m : {k, k - 1})
        if (m < t.size()) rate_buffer[m] = std::nan("");
    }
    return rate_buffer;
  };
  const auto series = [&](int j) {
    const auto col = c.r->observables.col(j);
    return std::span<const double>(col.data(), static_cast<std::size_t>(col.size()));
  };
  const auto late = [&] { return "day" + day_text(c.s.late_day); };
  const bool late_reached = c.r && c.r->times_day.back() >= c.s.late_day;
  const auto at_late = [&](int j) { return late_reached ? value_at(c.r->times_day, series(j), c.s.late_day) : std::nan(""); };
  // Observables by role, roles in this order, each role's observables in table order.
  for (const Role role : {Role::car_t, Role::transgene, Role::cytokine, Role::b_cells, Role::autoantibody,
                          Role::hemoglobin, Role::tumor}) {
    for (std::size_t o = 0; o < c.model.n_observables(); ++o) {
      const auto& spec = c.model.observables()[o];
      if (spec.role != role) continue;
      const int j = static_cast<int>(o);
      const std::string name(spec.name);
      const auto unit = [&] { return std::string(spec.unit); };
      switch (role) {
        case Role::car_t:
        case Role::transgene:
        case Role::cytokine: {
          Peak pk{std::nan(""), std::nan("")};
          if (c.r) {
            pk = peak(c.r->times_day, series(j), rates(j));
            // A peak at a model event (e.g. stein2019's tmax) is taken there exactly, not off the grid.
            for (std::size_t e = 0; e < c.r->event_times_day.size(); ++e)
              if (const double v = c.r->event_observables(static_cast<Eigen::Index>(e), j); v > pk.value)
                pk = {v, c.r->event_times_day[e]};
          }
          if (role == Role::cytokine) {  // a cytokine's peak and its day (e.g. IL-6, for CRS)
            emit([&] { return MetricColumn{name + "_peak", unit(), "peak " + name + " level"}; }, pk.value);
            emit([&] { return MetricColumn{name + "_peak_day", "day", "day of the " + name + " peak"}; }, pk.time_day);
            break;
          }
          emit([&] { return MetricColumn{name + "_cmax", unit(), "peak CAR-T level"}; }, pk.value);
          emit([&] { return MetricColumn{name + "_tmax", "day", "time of the peak"}; }, pk.time_day);
          emit([&] {
                 return MetricColumn{name + "_auc_0_" + day_text(c.s.auc_end_day), unit() + "·day",
                                     "area under the curve, days 0-" + day_text(c.s.auc_end_day) + " (linear trapezoids)"};
               },
               c.r && c.r->times_day.back() >= c.s.auc_end_day ? auc(c.r->times_day, series(j), 0.0, c.s.auc_end_day)
                                                                : std::nan(""));
          if (role == Role::transgene)
            emit([&] {
                   return MetricColumn{name + "_persistence", "day",
                                       "last day with " + name + " >= " + number_text(c.s.qpcr_lloq) + " " + unit() +
                                           " (the qPCR LLOQ; NaN: never; the last time if still above)"};
                 },
                 c.r ? last_time_at_or_above(c.r->times_day, series(j), c.s.qpcr_lloq, rates(j)) : std::nan(""));
          break;
        }
        case Role::b_cells: {
          std::optional<double> start, end, recovery;
          if (c.r) {
            const auto b = series(j);
            const int ib0 = c.model.parameter_index("b0");
            const double b0 = ib0 >= 0 ? c.p[static_cast<std::size_t>(ib0)] : b.front();
            const auto r = rates(j);
            start = first_time_below(c.r->times_day, b, c.s.aplasia_threshold, 0.0, r);
            end = start ? first_time_at_or_above(c.r->times_day, b, c.s.aplasia_threshold, *start, r) : std::nullopt;
            recovery = start ? first_time_at_or_above(c.r->times_day, b, c.s.recovery_fraction * b0, *start, r) : std::nullopt;
          }
          const auto below = [&] { return "B cells < " + number_text(c.s.aplasia_threshold) + " " + unit(); };
          const auto percent = [&] { return number_text(100.0 * c.s.recovery_fraction); };
          emit([&] { return MetricColumn{name + "_aplasia_start", "day", "first day with " + below()}; }, or_nan(start));
          emit([&] {
                 return MetricColumn{name + "_aplasia_duration", "day",
                                     "days with " + below() + " (NaN: no aplasia, or not over by the last time)"};
               },
               start && end ? *end - *start : std::nan(""));
          emit([&] {
                 return MetricColumn{name + "_recovery_" + percent() + "pct", "day",
                                     "first day after aplasia with B cells >= " + percent() + " % of baseline"};
               },
               or_nan(recovery));
          break;
        }
        case Role::autoantibody:
          emit([&] { return MetricColumn{name + "_" + late(), unit(), "autoantibody at day " + day_text(c.s.late_day)}; },
               at_late(j));
          break;
        case Role::hemoglobin:
          emit([&] { return MetricColumn{name + "_change_" + late(), unit(), "hemoglobin change, day 0 to " + day_text(c.s.late_day)}; },
               late_reached ? at_late(j) - series(j).front() : std::nan(""));
          emit([&] { return MetricColumn{name + "_" + late(), unit(), "hemoglobin at day " + day_text(c.s.late_day)}; },
               at_late(j));
          break;
        case Role::tumor: {
          std::optional<double> nadir, nadir_day;
          if (c.r) {
            const auto v = series(j);
            const auto it = std::min_element(v.begin(), v.end());
            nadir = *it;
            nadir_day = c.r->times_day[static_cast<std::size_t>(it - v.begin())];
          }
          emit([&] { return MetricColumn{name + "_nadir", unit(), "lowest " + name + " on the output grid"}; }, or_nan(nadir));
          emit([&] { return MetricColumn{name + "_nadir_day", "day", "day of the lowest " + name}; }, or_nan(nadir_day));
          emit([&] { return MetricColumn{name + "_" + late(), unit(), name + " at day " + day_text(c.s.late_day)}; },
               at_late(j));
          break;
        }
        case Role::none:
          break;
      }
    }
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
