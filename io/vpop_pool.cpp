#include "io/vpop_pool.hpp"

#include <algorithm>

#include "io/h5_reader.hpp"
#include "pkmodel/errors.hpp"

namespace cartpk::io {

VpopPool read_vpop_pool(const std::filesystem::path& path) {
  const H5Reader h5(path);
  const std::string file = path.string();
  if (!h5.exists("/vpop") || !h5.has_attribute("/vpop", "scenarios"))
    throw InputError(file + ": no /vpop group with a scenarios attribute (expected a result file of cartpk vpop)");
  VpopPool pool;
  pool.source = file;
  if (h5.has_attribute("/", "model")) pool.model = h5.string_attribute("/", "model");
  if (h5.has_attribute("/vpop", "seed")) pool.seed = h5.string_attribute("/vpop", "seed");
  if (h5.has_attribute("/vpop", "late_day")) pool.late_day = h5.double_attribute("/vpop", "late_day");
  const auto names = h5.strings_attribute("/vpop", "scenarios");
  if (names.empty()) throw InputError(file + ": /vpop@scenarios is empty (expected at least one scenario)");

  // Rows every dataset holds; a partial file (interrupted, or OUT.partial of a killed run) vouches for
  // patients_written rows in /vpop/progress, complete = 1 only when the run finished.
  std::size_t rows = static_cast<std::size_t>(-1);
  if (h5.exists("/vpop/progress")) {
    const auto progress = h5.read_longs("/vpop/progress");
    long written = 0, complete = 0;
    for (std::size_t k = 0; k + 1 < progress.size(); k += 2) {
      written = std::max(written, progress[k]);
      complete = std::max(complete, progress[k + 1]);
    }
    rows = static_cast<std::size_t>(std::max(0L, written));
    pool.complete = complete == 1;
  }
  for (const auto& name : names) {
    const std::string group = "/vpop/scenarios/" + name;
    if (!h5.exists(group + "/metrics") || !h5.exists(group + "/status"))
      throw InputError(file + ": scenario " + name + " has no metrics or status dataset (expected " + group +
                       "/metrics and " + group + "/status, as cartpk vpop writes them)");
    if (!h5.has_attribute(group + "/metrics", "columns"))
      throw InputError(file + ": " + group + "/metrics has no columns attribute (expected the metric names)");
    const auto columns = h5.strings_attribute(group + "/metrics", "columns");
    if (pool.scenarios.empty()) {
      pool.metric_names = columns;
      if (h5.has_attribute(group + "/metrics", "metric_units"))
        pool.metric_units = h5.strings_attribute(group + "/metrics", "metric_units");
    } else if (columns != pool.metric_names) {
      throw InputError(file + ": scenario " + name + " has other metric columns than " + pool.scenarios.front().name +
                       " (expected the same columns in every scenario)");
    }
    const auto dims = h5.dims(group + "/metrics");
    if (dims.size() != 2 || dims[1] != columns.size())
      throw InputError(file + ": " + group + "/metrics is not a patients x " + std::to_string(columns.size()) +
                       " dataset (expected one column per name in its columns attribute)");
    VpopPool::Scenario s;
    s.name = name;
    if (h5.has_attribute(group, "definition")) s.definition = h5.string_attribute(group, "definition");
    s.metrics = h5.read_doubles(group + "/metrics");
    s.status = h5.read_longs(group + "/status");
    const std::size_t n = std::min({rows, s.status.size(), dims[0]});
    s.metrics.resize(n * columns.size());
    s.status.resize(n);
    pool.scenarios.push_back(std::move(s));
  }
  pool.n_patients = pool.scenarios.front().status.size();
  for (const auto& s : pool.scenarios)
    if (s.status.size() != pool.n_patients)
      throw InputError(file + ": scenario " + s.name + " holds " + std::to_string(s.status.size()) + " patients, " +
                       pool.scenarios.front().name + " " + std::to_string(pool.n_patients) +
                       " (expected the same patients in every scenario)");
  return pool;
}

}  // namespace cartpk::io
