// cartpk: command-line entry. Parses, dispatches, and maps failures to exit codes:
// 0 success, 1 unexpected internal error, 2 bad input or unwritable output, 3 a solve (or some subjects'
// fits) failed, 130 interrupted (what was complete is written).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "io/atomic_file.hpp"
#include "pkmodel/errors.hpp"
#include "tools/cli_values.hpp"
#include "parallel/mpi_session.hpp"
#include "tools/commands.hpp"

int run(int argc, char** argv);

namespace {
// Under mpirun, commands that do not split their work run on rank 0 alone; the others leave at once.
bool distributed_command(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "vpop" || word == "fit" || word == "popfit" || word == "trial") return true;
    if (!word.starts_with("-")) return false;
  }
  return false;
}
}  // namespace

int main(int argc, char** argv) {
  try {
    cartpk::parallel::MpiSession mpi(argc, argv);
    cartpk::parallel::set_world(&mpi);
    if (mpi.distributed() && mpi.rank() != 0) {
      if (!distributed_command(argc, argv)) return 0;
      // Every rank parses the same command line and meets the same warnings and errors: rank 0 alone reports.
      if (!std::freopen("/dev/null", "w", stdout) || !std::freopen("/dev/null", "w", stderr)) return 1;
    }
    return run(argc, argv);
  } catch (const cartpk::parallel::MpiError& e) {
    std::cerr << "cartpk: " << e.what() << '\n';
    return 1;
  }
}

int run(int argc, char** argv) {
  CLI::App app{"cartpk " CARTPK_VERSION ": CAR-T cellular kinetics (simulation, fitting, HDF5 export)", "cartpk"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(CARTPK_VERSION) + (cartpk::parallel::MpiSession::built_with_mpi()
                                                                       ? " (MPI: yes)" : " (MPI: no)"));
  cartpk::cli::Context context{cartpk::cli::join_command_line(argc, argv)};
  cartpk::cli::add_models_command(app);
  cartpk::cli::add_simulate_command(app, context);
  cartpk::cli::add_fit_command(app, context);
  cartpk::cli::add_popfit_command(app, context);
  cartpk::cli::add_vpc_command(app, context);
  cartpk::cli::add_vpop_command(app, context);
  cartpk::cli::add_design_command(app, context);
  cartpk::cli::add_trial_command(app, context);
  try {
    app.parse(argc, argv);
    return context.exit_code;
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::Error& e) {
    app.exit(e);
    return 2;
  } catch (const cartpk::InputError& e) {
    std::cerr << "cartpk: error: " << e.what() << '\n';
    return 2;
  } catch (const cartpk::io::OutputError& e) {
    std::cerr << "cartpk: error: " << e.what() << '\n';
    return 2;
  } catch (const cartpk::SolverError& e) {
    std::cerr << "cartpk: solver failure: " << e.what() << '\n';
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "cartpk: internal error: " << e.what() << '\n';
    return 1;
  }
}
