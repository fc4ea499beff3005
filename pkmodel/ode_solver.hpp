#pragma once
// The CVODES engine: BDF, dense direct linear solver with the model's exact Jacobian, forward sensitivities
// (staggered corrector, sensitivities in the error test), and events as solver stops with sensitivity jumps.
// One OdeSolver is a reusable workspace: create one per model per thread and call solve() many times.
#include <memory>
#include <string>
#include <vector>

#include "pkmodel/fast_integrator.hpp"
#include "pkmodel/model.hpp"
#include "pkmodel/simulation.hpp"
#include "pkmodel/sundials_handles.hpp"

namespace cartpk {

// Which integrator OdeSolver runs (docs/solver.md). cvodes: BDF with the exact Jacobian, for any model.
// dopri5: the compile-time-sized explicit Dormand–Prince 5(4) (pkmodel/fast_integrator.hpp), handing over to
// CVODES for the rest of the solve when it detects stiffness or fails. automatic: dopri5 for models with at most
// kAutoMaxStates states, cvodes otherwise.
enum class Integrator { cvodes, dopri5, automatic };
inline constexpr std::size_t kAutoMaxStates = 16;
const char* integrator_name(Integrator integrator);  // "cvodes", "dopri5", "auto"
Integrator parse_integrator(const std::string& name);  // InputError naming the choices

struct SolverOptions {
  double rtol = 1e-8;          // relative tolerance of states and sensitivities
  double atol_scale = 1e-12;   // absolute tolerance of state i = atol_scale × its typical scale (model table)
  long max_steps = 200000;     // bound on the work between two outputs; exceeding it is a SolverError
  double max_step_day = 0.0;   // 0: no bound on the step size
  Integrator integrator = Integrator::automatic;  // dopri5 for the small models, with hand-over (docs/solver.md)
};

// A workspace for `method` ("ode" or "closed"); InputError when the model has no closed form.
std::unique_ptr<Solver> make_solver(const Model& model, const std::string& method, const SolverOptions& options = {});

class OdeSolver final : public Solver {
 public:
  explicit OdeSolver(const Model& model, SolverOptions options = {});
  OdeSolver(const OdeSolver&) = delete;
  OdeSolver& operator=(const OdeSolver&) = delete;
  ~OdeSolver() override;

  // Solves the request; throws InputError for a bad request and SolverError when integration fails.
  using Solver::solve;
  void solve(const SimulationRequest& request, SimulationResult& result) override;  // reuses result's storage

  [[nodiscard]] const Model& model() const override { return model_; }
  [[nodiscard]] const SolverOptions& options() const { return options_; }

  struct Callbacks;  // the C callbacks' view of this workspace (ode_solver.cpp)
  struct Scratch;    // per-solve working storage, kept so a warm solve allocates nothing (ode_solver.cpp)

 private:
  void solve_once(const SimulationRequest& request, SimulationResult& result, bool explicit_first);
  void prepare(double t0, const SimulationRequest& request, bool explicit_first);
  void reinitialise(double t);
  void integrate_to(double t_target, double t_stop);
  void hand_over_to_cvodes(double t_stop);
  void restart_cvodes(double t);
  void restart_fast(double t);
  void apply_event(double t, int model_event, const DoseRecord* dose, const std::vector<double>& event_time_sens);
  void switch_infusion(double t, const DoseRecord& dose, bool start);
  void collect_stats();
  void check(int flag, const char* function) const;

  const Model& model_;
  SolverOptions options_;
  // Declaration order is destruction order reversed: the context outlives everything made from it.
  sundials::Context context_;
  sundials::Vector y_;
  sundials::Vector abstol_;
  sundials::VectorArray sens_;
  sundials::Matrix jacobian_;
  sundials::LinearSolver linear_solver_;
  sundials::CvodeMemory cvode_;
  std::unique_ptr<Callbacks> callbacks_;
  std::unique_ptr<Scratch> scratch_;
  std::unique_ptr<FastIntegrator> fast_;  // the model's explicit integrator (dopri5/auto), or none

  bool fast_active_ = false;      // this solve is on the explicit integrator (until a hand-over)
  bool cvodes_counting_ = false;  // CVODES' counters belong to this solve and are not yet collected
  std::vector<double> pbar_, S_buffer_, input_, input_sens_;  // sensitivity scales; S as one block; infusion input

  int sens_allocated_ = 0;  // size of the sensitivity system CVODES holds (0: none yet)
  bool sens_active_ = false;
  double t_ = 0.0;          // time reached
  SolverStats stats_;
  detail::OutputScratch output_scratch_;
  mutable std::string last_message_;  // CVODE's own error text, captured by the error handler
  friend struct Callbacks;
};

}  // namespace cartpk
