// `cartpk trial`: model-based virtual trials of a two-stage design. The virtual patients come from a `cartpk vpop`
// result file (--vpop) or from a virtual population simulated here with the vpop options; the design file gives
// the stage rules, the response rule and the toxicity link (docs/designs.md).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "io/atomic_file.hpp"
#include "io/did_you_mean.hpp"
#include "io/trial_design_file.hpp"
#include "io/vpop_export.hpp"  // describe_scenario
#include "io/vpop_pool.hpp"
#include "parallel/mpi_session.hpp"
#include "pkmodel/errors.hpp"
#include "pkmodel/registry.hpp"
#include "tools/analysis_options.hpp"
#include "tools/cli_values.hpp"
#include "tools/commands.hpp"
#include "tools/rank_checks.hpp"
#include "tools/trial_output.hpp"
#include "tools/vpop_options.hpp"
#include "tools/vpop_run.hpp"
#include "trial/virtual_trial.hpp"

namespace cartpk::cli {

namespace {
constexpr long kMaxReplicates = 100'000'000;
constexpr std::size_t kPoolPerTrialPatient = 20;  // the pool-size rule of docs/designs.md

struct TrialCliOptions {
  VpopCliOptions population;          // the vpop options (an in-process pool), --seed, --threads, --quiet, --out, --table
  std::string vpop_file, design_file;
  long replicates = 0;
  std::vector<CLI::Option*> population_only;  // options that define an in-process pool (not with --vpop)
  GridOptions grid{};
};

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Every metric a rule or link reads must be a column of the pool.
void check_metrics(const std::vector<std::string>& columns, const std::string& source, const trial::ResponseRule& rule,
                   const trial::ToxicityLink& link) {
  for (const auto& [metric, where] : trial::metrics_needed(rule, link))
    if (std::find(columns.begin(), columns.end(), metric) == columns.end())
      throw InputError(where + ": metric '" + metric + "' is not in the pool " + source +
                       io::did_you_mean_hint(metric, columns) + " (expected one of its metrics: " + joined(columns) + ")");
}

// A response metric that no evaluable patient of a scenario reached means the pool cannot answer the rule (e.g. a
// time grid that ends before the read-out day).
void check_reached(const io::VpopPool& pool, const io::VpopPool::Scenario& s, const trial::ResponseRule& rule) {
  const std::size_t width = pool.metric_names.size();
  for (const auto& c : rule.conditions) {
    const auto column = static_cast<std::size_t>(
        std::find(pool.metric_names.begin(), pool.metric_names.end(), c.metric) - pool.metric_names.begin());
    bool reached = false;
    for (std::size_t i = 0; i < s.status.size() && !reached; ++i)
      reached = s.status[i] == 0 && !std::isnan(s.metrics[i * width + column]);
    if (!reached)
      throw InputError(c.where + ": metric '" + c.metric + "' is not reached (NaN) by any patient of scenario " + s.name +
                       " in the pool " + pool.source +
                       " (expected a population whose time grid reaches the metric's day, e.g. --end past --late-day)");
  }
}

// What the design file, the pool and the options make of the rules.
struct Setup {
  io::TrialDesignFile file;
  trial::ResponseRule rule;
  trial::ToxicityLink link;
};

Setup read_setup(const TrialCliOptions& opt, bool root, const std::vector<std::string>& columns, double late_day,
                 const std::string& source) {
  const auto& vo = opt.population;
  if (opt.replicates <= 0 || opt.replicates > kMaxReplicates)
    throw InputError("--replicates " + std::to_string(opt.replicates) + ": expected a number of replicates from 1 to " +
                     std::to_string(kMaxReplicates));
  std::vector<std::filesystem::path> inputs = vpop_inputs(vo);
  inputs.emplace_back(opt.design_file);
  if (!opt.vpop_file.empty()) inputs.emplace_back(opt.vpop_file);
  if (root) {
    io::check_output_path(vo.out, "--out", inputs);
    if (!vo.table.empty()) {
      inputs.emplace_back(vo.out);
      io::check_output_path(vo.table, "--table", inputs);
    }
  }
  Setup setup{io::read_trial_design_file(opt.design_file), {}, {}};
  setup.rule = setup.file.response ? *setup.file.response : trial::default_response_rule(number_text(late_day));
  setup.link = setup.file.toxicity ? *setup.file.toxicity : trial::default_toxicity_link();
  if (!setup.file.response)
    for (auto& c : setup.rule.conditions) c.where = setup.file.name + ": no [response], so the default wAIHA criteria";
  if (!setup.file.toxicity) setup.link.where = setup.file.name + ": no [toxicity], so the default link";
  check_metrics(columns, source, setup.rule, setup.link);
  return setup;
}

// The pool simulated here: every patient through every scenario, as `cartpk vpop` would (the same streams), after
// every check (on every MPI rank). Collective under MPI; only rank 0 returns a pool.
std::optional<io::VpopPool> simulate_pool(const TrialCliOptions& opt, Setup& setup) {
  const auto& vo = opt.population;
  const auto& mpi = parallel::world();
  const Model& model = find_model(vo.model);
  const std::string source = "in-process vpop (" + std::string(model.name()) + ", " + std::to_string(vo.n) + " patients)";
  auto vpop = checked_on_every_rank(mpi, [&] {
    auto v = std::make_unique<VirtualPopulation>(
        population_from_options(model, vo),
        settings_from_options(model, vo, opt.grid.times->count() > 0, opt.grid.end->count() + opt.grid.step->count() > 0));
    std::vector<std::string> columns;
    for (const auto& c : v->metric_columns()) columns.push_back(c.name);
    setup = read_setup(opt, mpi.rank() == 0, columns, v->settings().metrics.late_day, source);
    return v;
  });
  io::VpopPool pool;
  pool.source = source;
  pool.model = std::string(model.name());
  pool.seed = std::to_string(vo.seed);
  pool.late_day = vpop->settings().metrics.late_day;
  for (const auto& c : vpop->metric_columns()) {
    pool.metric_names.push_back(c.name);
    pool.metric_units.push_back(c.unit);
  }
  for (const auto& s : vpop->settings().scenarios) pool.scenarios.push_back({s.name, io::describe_scenario(s), {}, {}});
  const auto run = run_population(*vpop, {vo.threads, vo.quiet, nullptr, "cartpk trial"}, [&](const PatientResult& p) {
    for (std::size_t s = 0; s < pool.scenarios.size(); ++s) {
      auto& scenario = pool.scenarios[s];
      scenario.metrics.insert(scenario.metrics.end(), p.metrics(s).begin(), p.metrics(s).end());
      scenario.status.push_back(static_cast<long>(p.status[s]));
    }
  });
  if (mpi.rank() != 0) return std::nullopt;
  pool.n_patients = run.delivered;
  return pool;
}

void run_trial(TrialCliOptions& opt, const Context& context) {
  const auto& mpi = parallel::world();
  const bool root = mpi.rank() == 0;
  auto& vo = opt.population;
  Setup setup;
  std::optional<io::VpopPool> pool;
  if (!opt.vpop_file.empty()) {
    for (const auto* o : opt.population_only)
      if (o->count() > 0)
        throw InputError("--vpop " + opt.vpop_file + " cannot be combined with " + o->get_name() +
                         " (the patients come from the file; expected either --vpop FILE.h5 or the vpop options)");
    if (!root) return;  // one process reads the file and runs the trials
    try {
      pool = io::read_vpop_pool(opt.vpop_file);
    } catch (const InputError& e) {
      const std::string message = e.what();
      throw InputError("--vpop " + opt.vpop_file + ": " + message +
                       (message.find("expected") == std::string::npos ? " (expected a result file of cartpk vpop)" : ""));
    }
    setup = read_setup(opt, root, pool->metric_names, pool->late_day, pool->source);
  } else {
    if (vo.model.empty())
      throw InputError("no virtual patients: expected --vpop FILE.h5 (a cartpk vpop result) or --model NAME --n N "
                       "[--iiv ...] [--dose-per-kg ... | --scenarios ...] to simulate them here");
    pool = simulate_pool(opt, setup);
    if (!root) return;
  }
  const auto& design = setup.file.design;
  const trial::OutcomeModel outcomes(setup.rule, setup.link, pool->metric_names);

  TrialReport report;
  report.design = design;
  report.design_file = setup.file.name;
  report.design_rule = design_rule_text(design);
  report.response_rule = trial::describe(setup.rule);
  report.toxicity_link = trial::describe(setup.link);
  report.replicates = static_cast<std::uint64_t>(opt.replicates);
  report.seed = vo.seed;
  report.pool_source = pool->source;
  report.pool_model = pool->model;
  report.pool_seed = pool->seed;
  report.pool_complete = pool->complete;
  if (!pool->complete)
    std::fprintf(stderr, "cartpk trial: %s is a partial vpop result (an interrupted run): its %zu complete patients are the pool\n",
                 pool->source.c_str(), pool->n_patients);

  std::vector<trial::TrialPool> pools;
  for (const auto& s : pool->scenarios) {
    check_reached(*pool, s, setup.rule);
    pools.push_back(trial::make_pool(outcomes, s.metrics, pool->metric_names.size(), s.status));
    const auto& p = pools.back();
    if (p.size() < static_cast<std::size_t>(design.n))
      throw InputError("scenario " + s.name + " of " + pool->source + ": " + std::to_string(p.size()) +
                       " evaluable patients (" + std::to_string(p.excluded_failed) + " failed" +
                       (p.excluded_not_evaluable ? ", " + std::to_string(p.excluded_not_evaluable) + " without " + setup.link.metric : "") +
                       ") for a trial of " + std::to_string(design.n) + " (expected a pool of at least " +
                       std::to_string(kPoolPerTrialPatient * static_cast<std::size_t>(design.n)) + " patients, --n)");
    if (p.size() < kPoolPerTrialPatient * static_cast<std::size_t>(design.n))
      std::fprintf(stderr,
                   "cartpk trial: scenario %s: a pool of %zu patients is less than %zu x the trial size %d: the pool's own "
                   "sampling error (pool_se) is not small next to the replicates' (docs/designs.md)\n",
                   s.name.c_str(), p.size(), kPoolPerTrialPatient, design.n);
    if (p.excluded_failed > 0)
      std::fprintf(stderr, "cartpk trial: scenario %s: %zu patients whose simulation failed are excluded from the pool\n",
                   s.name.c_str(), p.excluded_failed);
  }

  const auto start = std::chrono::steady_clock::now();
  const auto tallies = trial::simulate_trials(design, pools, report.seed, report.replicates, {vo.threads, nullptr});
  for (std::size_t k = 0; k < pools.size(); ++k) {
    TrialScenarioResult r;
    r.name = pool->scenarios[k].name;
    r.definition = pool->scenarios[k].definition;
    r.pool_patients = pools[k].size();
    r.excluded_failed = pools[k].excluded_failed;
    r.excluded_not_evaluable = pools[k].excluded_not_evaluable;
    r.pool = trial::summarize_pool(pools[k]);
    r.simulated = trial::estimate(design, tallies[k]);
    r.exact = trial::exact_comparison(design, r.pool);
    report.scenarios.push_back(std::move(r));
  }
  report.trial_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_trial_outputs(report, vo.table, vo.out, context.command_line);
  print_trial_report(report);
  std::printf("\n%llu replicates x %zu scenarios in %.3f s; wrote %s%s%s\n",
              static_cast<unsigned long long>(report.replicates), report.scenarios.size(), report.trial_seconds,
              vo.out.c_str(), vo.table.empty() ? "" : " and ", vo.table.c_str());
}
}  // namespace

void add_trial_command(CLI::App& app, Context& context) {
  auto* cmd = app.add_subcommand(
      "trial", "Model-based virtual trials of a two-stage design on a virtual population (docs/designs.md)");
  auto opt = std::make_shared<TrialCliOptions>();
  cmd->add_option("--vpop", opt->vpop_file,
                  "A cartpk vpop result (HDF5) whose patients are the pool; or give the vpop options to simulate one");
  cmd->add_option("--design", opt->design_file, "Design file (TOML): [design], [response], [toxicity]; required");
  cmd->add_option_function<std::string>(
         "--replicates",
         [o = opt.get()](const std::string& text) {
           const double value = parse_number(text, "--replicates");
           if (value != std::floor(value) || std::abs(value) > 1e12)
             throw InputError("--replicates: '" + text + "' is not a whole number (expected a number of replicates)");
           o->replicates = static_cast<long>(value);
         },
         "Virtual trials per scenario; required")
      ->type_name("INT");
  const auto before = cmd->get_options();
  opt->grid = add_vpop_options(*cmd, opt->population);
  const std::set<std::string> shared = {"--seed", "--threads", "--quiet", "--out", "--table"};
  for (auto* o : cmd->get_options())
    if (std::find(before.begin(), before.end(), o) == before.end() && !shared.count(o->get_name()))
      opt->population_only.push_back(o);
  cmd->get_option("--seed")->description(
      "Seed (default 1): replicate r of scenario s draws from the stream of (seed, r, s); an in-process pool's "
      "patients from (seed, k), as cartpk vpop --seed");
  cmd->get_option("--model")->description("Model name, to simulate the pool here with the vpop options (not with --vpop)");
  cmd->get_option("--n")->description("Number of virtual patients of a pool simulated here (at least 20 x the trial size)");
  cmd->get_option("--out")->description("HDF5 output: group /trial (written atomically); required");
  cmd->get_option("--table")->description("CSV table, one row per scenario (written atomically)");
  cmd->get_option("--threads")->description("Threads (default 0: all cores); results do not depend on it");
  auto config = std::make_shared<AnalysisOptions>(
      *cmd, AnalysisOptions::Roles{{"--design", "--replicates", "--out"},
                                   {"--vpop", "--design", "--iiv", "--scenarios", "--covariates"},
                                   {"--out", "--table"}});
  cmd->callback([opt, config, &context] {
    config->apply();
    config->run([&] { run_trial(*opt, context); });
  });
}

}  // namespace cartpk::cli
