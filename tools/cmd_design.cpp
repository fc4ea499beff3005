// `cartpk design`: exact two-stage phase II designs (Simon; Bryant-Day) and the operating characteristics of a
// given design with a toxicity stop (evaluate). Parses, validates, calls cartpk_trial, prints and writes tables.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "io/atomic_file.hpp"
#include "pkmodel/errors.hpp"
#include "tools/cli_values.hpp"
#include "tools/commands.hpp"
#include "tools/design_output.hpp"
#include "tools/value_ranges.hpp"
#include "trial/bryant_day.hpp"
#include "trial/design_evaluate.hpp"
#include "trial/simon.hpp"

namespace cartpk::cli {

namespace {
struct Outputs {
  std::string table;  // --table FILE.csv
  std::string out;    // --out FILE.h5
};

void add_outputs(CLI::App& cmd, Outputs& o) {
  cmd.add_option("--table", o.table, "CSV file for the table (written atomically)");
  cmd.add_option("--out", o.out, "HDF5 file: group /design with the table and the inputs (written atomically)");
}

void check_outputs(const Outputs& o) {
  if (!o.out.empty()) io::check_output_path(o.out, "--out");
  if (!o.table.empty()) {
    std::vector<std::filesystem::path> others;
    if (!o.out.empty()) others.emplace_back(o.out);
    io::check_output_path(o.table, "--table", others);
  }
}

// Numeric options are read as text and converted strictly, so a bad value gets the project's message (the
// option, the text, what was expected) rather than CLI11's.
CLI::Option* add_number(CLI::App& cmd, const std::string& name, double& target, const std::string& help) {
  return cmd
      .add_option_function<std::string>(
          name, [&target, name](const std::string& text) { target = parse_number(text, name); }, help)
      ->type_name("NUMBER");
}

CLI::Option* add_count(CLI::App& cmd, const std::string& name, int& target, const std::string& help) {
  return cmd.add_option_function<std::string>(
      name,
      [&target, name](const std::string& text) {
        const double value = parse_number(text, name);
        if (value != std::floor(value) || std::abs(value) > 1e6)
          throw InputError(name + ": '" + text + "' is not a whole number (expected an integer count)");
        target = static_cast<int>(value);
      },
      help)
      ->type_name("INT");
}

void open_probability(const char* option, double value) {
  if (!(value > 0.0 && value < 1.0))
    throw InputError(std::string(option) + " " + number_text(value) + ": expected a probability strictly between 0 and 1");
}

void ordered(const char* low_option, double low, const char* high_option, double high, const std::string& meaning) {
  if (!(low < high))
    throw InputError(std::string(low_option) + " " + number_text(low) + " and " + high_option + " " +
                     number_text(high) + ": expected " + low_option + " < " + high_option + " (" + meaning + ")");
}

void finish(const DesignTable& table, const std::string& title, const Outputs& o, const Context& context) {
  write_design_outputs(table, o.table, o.out, context.command_line);
  print_design_table(table, title);
  if (!o.table.empty() || !o.out.empty())
    std::printf("  wrote %s%s%s\n", o.table.c_str(), o.table.empty() || o.out.empty() ? "" : " and ", o.out.c_str());
}

// ---- simon ----------------------------------------------------------------------------------------------------

struct SimonOptions {
  trial::SimonInputs in;
  Outputs outputs;
};

void run_simon(const SimonOptions& opt, const Context& context) {
  const auto& in = opt.in;
  open_probability("--p0", in.p0);
  open_probability("--p1", in.p1);
  ordered("--p0", in.p0, "--p1", in.p1, "the response rate of no interest below the one of interest");
  open_probability("--alpha", in.alpha);
  open_probability("--beta", in.beta);
  if (in.nmax < 2 || in.nmax > 1000)
    throw InputError("--nmax " + std::to_string(in.nmax) + ": expected a total size from 2 to 1000");
  check_outputs(opt.outputs);

  const auto result = trial::simon_designs(in);
  if (!result)
    throw InputError("no Simon design with n <= " + std::to_string(in.nmax) + " (--nmax " + std::to_string(in.nmax) +
                     ") has type I error <= " + number_text(in.alpha) + " and power >= " + number_text(1.0 - in.beta) +
                     " (expected a larger --nmax, e.g. --nmax " + std::to_string(std::min(1000, 2 * in.nmax)) + ")");
  if (result->optimal.n > in.nmax - 10)
    std::fprintf(stderr, "cartpk: warning: the optimal design's n = %d is within 10 of --nmax %d: a larger --nmax "
                 "may give a smaller en0\n", result->optimal.n, in.nmax);

  DesignTable t;
  t.kind = "simon";
  t.rule = "stop after stage 1 if responses <= r1 of n1 (r1 = -1: never); declare active if responses > r of n";
  t.columns = {{"design", {}, {"optimal", "minimax"}}, {"r1", {}}, {"n1", {}}, {"r", {}}, {"n", {}},
               {"en0", {}, {}, 2, "patients"}, {"pet0", {}, {}, 4, "probability"}, {"alpha", {}, {}, 4, "probability"},
               {"power", {}, {}, 4, "probability"}};
  for (const auto* d : {&result->optimal, &result->minimax}) {
    const double row[] = {double(d->r1), double(d->n1), double(d->r), double(d->n), d->en0, d->pet0, d->alpha, d->power};
    for (std::size_t j = 0; j < 8; ++j) t.columns[j + 1].values.push_back(row[j]);
  }
  t.inputs = {{"p0", in.p0}, {"p1", in.p1}, {"alpha", in.alpha}, {"beta", in.beta}, {"nmax", double(in.nmax)}};
  t.text_inputs = {{"optimal", "smallest en0 = E(N | p0), ties to smaller n, n1, r1"},
                   {"minimax", "smallest n, ties to smaller en0, then n1, r1"}};
  char title[256];
  std::snprintf(title, sizeof title, "Simon two-stage designs: p0 %g, p1 %g, alpha %g, beta %g (n <= %d)", in.p0,
                in.p1, in.alpha, in.beta, in.nmax);
  finish(t, title, opt.outputs, context);
}

// ---- bryant-day -----------------------------------------------------------------------------------------------

struct BryantDayOptions {
  trial::BryantDayInputs in;
  double alpha_t = -1.0;  // default: --alpha-r
  std::string t_scale = "non-toxicity";
  Outputs outputs;
};

void run_bryant_day(BryantDayOptions opt, const Context& context) {
  auto& in = opt.in;
  open_probability("--r0", in.r0);
  open_probability("--r1", in.r1);
  ordered("--r0", in.r0, "--r1", in.r1, "the unacceptable response rate below the acceptable one");
  open_probability("--t0", in.t0);
  open_probability("--t1", in.t1);
  if (opt.t_scale == "toxicity") {
    ordered("--t1", in.t1, "--t0", in.t0, "with --t-scale toxicity: the acceptable toxicity rate t1 below the "
            "unacceptable t0");
    in.t0 = 1.0 - in.t0;  // to the paper's probabilities of no toxicity
    in.t1 = 1.0 - in.t1;
  } else if (opt.t_scale == "non-toxicity") {
    ordered("--t0", in.t0, "--t1", in.t1, "probabilities of NO toxicity: the unacceptable t0 below the acceptable t1; "
            "use --t-scale toxicity to give toxicity probabilities");
  } else {
    throw InputError("--t-scale '" + opt.t_scale + "': expected non-toxicity or toxicity");
  }
  open_probability("--alpha-r", in.alpha_r);
  in.alpha_t = opt.alpha_t < 0.0 ? in.alpha_r : opt.alpha_t;
  open_probability("--alpha-t", in.alpha_t);
  open_probability("--power", in.power);
  if (in.nmin < 2) throw InputError("--nmin " + std::to_string(in.nmin) + ": expected a total size >= 2");
  if (in.nmax < in.nmin || in.nmax > trial::kBryantDayMaxN)
    throw InputError("--nmax " + std::to_string(in.nmax) + ": expected a total size from --nmin " +
                     std::to_string(in.nmin) + " to " + std::to_string(trial::kBryantDayMaxN));
  check_outputs(opt.outputs);

  const auto result = trial::bryant_day_designs(in);
  if (!result)
    throw InputError("no Bryant-Day design with " + std::to_string(in.nmin) + " <= n <= " + std::to_string(in.nmax) +
                     " (--nmax " + std::to_string(in.nmax) + ") meets alpha_r " + number_text(in.alpha_r) +
                     ", alpha_t " + number_text(in.alpha_t) + " and power " + number_text(in.power) +
                     " (expected a larger --nmax, e.g. --nmax " +
                     std::to_string(std::min(trial::kBryantDayMaxN, 2 * in.nmax)) + ")");

  DesignTable t;
  t.kind = "bryant_day";
  t.rule = "stage 1: continue only if responses > cr1 and patients without toxicity > ct1 of n1 (toxicities <= "
           "max_tox_stage1 = n1 - ct1 - 1); accept if responses > cr and patients without toxicity > ct of n "
           "(toxicities <= max_tox_final = n - ct - 1); optimal = smallest en_max = max(en_r0t1, en_r1t0)";
  const std::vector<std::string> ints = {"n1", "n", "cr1", "ct1", "cr", "ct"};
  t.columns.push_back({"design", {}, {"optimal", "minimax"}});
  for (const auto& name : ints) t.columns.push_back({name, {}});
  for (const char* name : {"alpha_r", "alpha_t", "power"}) t.columns.push_back({name, {}, {}, 4, "probability"});
  for (const char* name : {"en_r0t1", "en_r1t0", "en_r0t0", "en_max"}) t.columns.push_back({name, {}, {}, 2, "patients"});
  t.columns.push_back({"max_tox_stage1", {}});
  t.columns.push_back({"max_tox_final", {}});
  for (const auto* d : {&result->optimal, &result->minimax}) {
    const double row[] = {double(d->n1), double(d->n), double(d->cr1), double(d->ct1), double(d->cr), double(d->ct),
                          d->alpha_r, d->alpha_t, d->power, d->en_r0t1, d->en_r1t0, d->en_r0t0, d->criterion(),
                          double(d->n1 - d->ct1 - 1), double(d->n - d->ct - 1)};
    for (std::size_t j = 0; j < std::size(row); ++j) t.columns[j + 1].values.push_back(row[j]);
  }
  t.inputs = {{"r0", in.r0}, {"r1", in.r1}, {"t0", in.t0}, {"t1", in.t1}, {"alpha_r", in.alpha_r},
              {"alpha_t", in.alpha_t}, {"power", in.power}, {"nmin", double(in.nmin)}, {"nmax", double(in.nmax)}};
  t.text_inputs = {{"t_meaning", "t0, t1: probabilities of NO toxicity (converted from --t-scale " + opt.t_scale + ")"},
                   {"optimal", "smallest max(E(N | r0, t1), E(N | r1, t0)) (Bryant & Day 1995), ties to smaller n, "
                               "n1, cr1, ct1; final thresholds of largest power"},
                   {"minimax", "smallest n, ties to smaller max(E(N | r0, t1), E(N | r1, t0)), then n1, cr1, ct1"}};
  char title[320];
  std::snprintf(title, sizeof title,
                "Bryant-Day two-stage designs: response r0 %g, r1 %g; no toxicity t0 %g, t1 %g (toxicity %g, %g); "
                "alpha_r %g, alpha_t %g, power %g (%d <= n <= %d)",
                in.r0, in.r1, in.t0, in.t1, 1.0 - in.t0, 1.0 - in.t1, in.alpha_r, in.alpha_t, in.power, in.nmin, in.nmax);
  finish(t, title, opt.outputs, context);
}

// ---- evaluate -------------------------------------------------------------------------------------------------

struct EvaluateOptions {
  trial::ToxicityStopDesign design;
  std::string responders_from;
  int max_tox_final = -1;
  std::string p_resp, p_tox, odds_ratio = "1";
  Outputs outputs;
};

std::vector<double> rates(const std::string& text, const char* option) {
  const auto values = parse_number_ranges(text, option);
  for (double v : values)
    if (!(v >= 0.0 && v <= 1.0))
      throw InputError(std::string(option) + ": " + number_text(v) + " is not a probability (expected values in [0, 1])");
  return values;
}

void at_most(const char* option, int value, int high, const std::string& why) {
  if (value < 0 || value > high)
    throw InputError(std::string(option) + " " + std::to_string(value) + ": expected 0 to " + std::to_string(high) + " (" + why + ")");
}

void run_evaluate(EvaluateOptions opt, bool max_tox_final_given, const Context& context) {
  auto& d = opt.design;
  if (d.n1 < 1) throw InputError("--n1 " + std::to_string(d.n1) + ": expected a stage-1 size >= 1");
  if (d.n <= d.n1)
    throw InputError("--n1 " + std::to_string(d.n1) + " and --n " + std::to_string(d.n) +
                     ": expected n1 < n (the total size n includes stage 1 and leaves patients for stage 2)");
  if (d.n > 1000) throw InputError("--n " + std::to_string(d.n) + ": expected a total size of at most 1000");
  if (opt.responders_from == "all") d.responders_from = trial::RespondersFrom::all;
  else if (opt.responders_from == "stage2") d.responders_from = trial::RespondersFrom::stage2;
  else throw InputError("--responders-from '" + opt.responders_from + "': expected all or stage2");
  at_most("--max-tox-stage1", d.max_tox_stage1, d.n1, "toxicities among the n1 stage-1 patients");
  const int countable = d.responders_from == trial::RespondersFrom::all ? d.n : d.n - d.n1;
  at_most("--min-responders", d.min_responders, countable,
          d.responders_from == trial::RespondersFrom::all ? "responders among all n patients"
                                                          : "responders among the n - n1 stage-2 patients");
  if (max_tox_final_given) {
    at_most("--max-tox-final", opt.max_tox_final, d.n, "toxicities among all n patients");
    d.max_tox_final = opt.max_tox_final;
  }
  const auto p_resp = rates(opt.p_resp, "--p-resp");
  const auto p_tox = rates(opt.p_tox, "--p-tox");
  const auto odds = parse_number_ranges(opt.odds_ratio, "--odds-ratio");
  for (double psi : odds)
    if (!(psi > 0.0)) throw InputError("--odds-ratio: " + number_text(psi) + " is not an odds ratio (expected values > 0)");
  if (p_resp.size() * p_tox.size() * odds.size() > 1000000)
    throw InputError("--p-resp x --p-tox x --odds-ratio: more than 1,000,000 rows (expected shorter lists)");
  check_outputs(opt.outputs);

  DesignTable t;
  t.kind = "evaluate";
  t.columns = {{"p_resp", {}, {}, 3, "probability"}, {"p_tox", {}, {}, 3, "probability"},
               {"odds_ratio", {}, {}, 3, "-"}, {"p_stop_stage1", {}, {}, 4, "probability"},
               {"p_success", {}, {}, 4, "probability"}, {"expected_n", {}, {}, 2, "patients"},
               {"expected_toxicities", {}, {}, 2, "patients"}};
  for (double pr : p_resp)
    for (double pt : p_tox)
      for (double psi : odds) {
        const auto oc = trial::evaluate_design(d, pr, pt, psi);
        const double row[] = {pr, pt, psi, oc.p_stop_stage1, oc.p_success, oc.expected_n, oc.expected_toxicities};
        for (std::size_t j = 0; j < std::size(row); ++j) t.columns[j].values.push_back(row[j]);
      }
  const bool all = d.responders_from == trial::RespondersFrom::all;
  t.rule = "stage 1: " + std::to_string(d.n1) + " patients, stop if toxicities > " + std::to_string(d.max_tox_stage1) +
           "; stage 2: " + std::to_string(d.n - d.n1) + " more; success if responders " +
           (all ? "among all " + std::to_string(d.n) : "among the " + std::to_string(d.n - d.n1) + " stage-2 patients") +
           " >= " + std::to_string(d.min_responders) +
           (d.max_tox_final ? " and toxicities among all " + std::to_string(d.n) + " <= " + std::to_string(*d.max_tox_final) : "");
  t.inputs = {{"n1", double(d.n1)}, {"n", double(d.n)}, {"max_tox_stage1", double(d.max_tox_stage1)},
              {"min_responders", double(d.min_responders)}};
  if (d.max_tox_final) t.inputs.emplace_back("max_tox_final", double(*d.max_tox_final));
  t.text_inputs = {{"responders_from", opt.responders_from}};
  finish(t, "Operating characteristics (exact; response and toxicity joint Bernoulli per patient)", opt.outputs,
         context);
}
}  // namespace

void add_design_command(CLI::App& app, const Context& context) {
  auto* design = app.add_subcommand("design", "Exact two-stage phase II designs and their operating characteristics");
  design->require_subcommand(1);

  auto* simon = design->add_subcommand("simon", "Simon (1989) optimal and minimax two-stage designs for response");
  auto s = std::make_shared<SimonOptions>();
  add_number(*simon, "--p0", s->in.p0, "Response rate of no interest (H0)")->required();
  add_number(*simon, "--p1", s->in.p1, "Response rate of interest (H1), > p0")->required();
  add_number(*simon, "--alpha", s->in.alpha, "Largest type I error P(declared active | p0)")->required();
  add_number(*simon, "--beta", s->in.beta, "Largest type II error P(not declared active | p1)")->required();
  add_count(*simon, "--nmax", s->in.nmax, "Largest total size searched (default 100, at most 1000)");
  add_outputs(*simon, s->outputs);
  simon->callback([s, &context] { run_simon(*s, context); });

  auto* bd = design->add_subcommand(
      "bryant-day", "Bryant & Day (1995) two-stage designs on response and toxicity (optimal and minimax)");
  auto b = std::make_shared<BryantDayOptions>();
  add_number(*bd, "--r0", b->in.r0, "Unacceptable response probability (H0)")->required();
  add_number(*bd, "--r1", b->in.r1, "Acceptable response probability (H1), > r0")->required();
  add_number(*bd, "--t0", b->in.t0,
             "Unacceptable probability of NO toxicity (the paper's convention; with --t-scale toxicity: the "
             "unacceptable toxicity probability)")->required();
  add_number(*bd, "--t1", b->in.t1,
             "Acceptable probability of NO toxicity, > t0 (with --t-scale toxicity: the acceptable toxicity "
             "probability, < t0)")->required();
  bd->add_option("--t-scale", b->t_scale,
                 "What --t0/--t1 are: non-toxicity (default, as in Bryant & Day) or toxicity probabilities");
  add_number(*bd, "--alpha-r", b->in.alpha_r, "Largest P(accept | r0, t1): ineffective but safe")->required();
  add_number(*bd, "--alpha-t", b->alpha_t, "Largest P(accept | r1, t0): effective but toxic (default: --alpha-r)");
  add_number(*bd, "--power", b->in.power, "Smallest P(accept | r1, t1)")->required();
  add_count(*bd, "--nmin", b->in.nmin, "Smallest total size searched (default 2)");
  add_count(*bd, "--nmax", b->in.nmax, "Largest total size searched (default 60, at most 150)");
  add_outputs(*bd, b->outputs);
  bd->callback([b, &context] { run_bryant_day(*b, context); });

  auto* ev = design->add_subcommand(
      "evaluate", "Exact operating characteristics of a two-stage design with a toxicity stop over a grid of rates");
  auto e = std::make_shared<EvaluateOptions>();
  add_count(*ev, "--n1", e->design.n1, "Stage-1 size")->required();
  add_count(*ev, "--n", e->design.n, "Total size (stage 1 + stage 2)")->required();
  add_count(*ev, "--max-tox-stage1", e->design.max_tox_stage1,
            "Stop after stage 1 if more than this many stage-1 patients have a toxicity")->required();
  add_count(*ev, "--min-responders", e->design.min_responders, "Success needs at least this many responders")
      ->required();
  ev->add_option("--responders-from", e->responders_from,
                 "Where responders are counted: all (all n patients) or stage2 (the n - n1 stage-2 patients)")
      ->required();
  auto* tox_final = add_count(*ev, "--max-tox-final", e->max_tox_final,
                              "Success also needs at most this many toxicities among all n (default: no rule)");
  ev->add_option("--p-resp", e->p_resp,
                 "True response probabilities: a list and/or start:stop:step ranges, e.g. 0.05:0.6:0.05")->required();
  ev->add_option("--p-tox", e->p_tox, "True toxicity probabilities (list and/or ranges)")->required();
  ev->add_option("--odds-ratio", e->odds_ratio,
                 "Odds ratios between response and toxicity in a patient (list and/or ranges; default 1: independent)");
  add_outputs(*ev, e->outputs);
  ev->callback([e, tox_final, &context] { run_evaluate(*e, tox_final->count() > 0, context); });
}

}  // namespace cartpk::cli
