#pragma once
// Under mpirun every rank reads and checks the same inputs; a collective go after the checks keeps a rank from
// starting work that another rank cannot join (rank 0 reports the error).
#include "io/atomic_file.hpp"
#include "parallel/mpi_session.hpp"
#include "pkmodel/errors.hpp"

namespace cartpk::cli {

template <class Setup>
auto checked_on_every_rank(const parallel::MpiSession& mpi, Setup setup) {
  try {
    auto result = setup();
    if (!mpi.all_agree(true)) throw InputError("another MPI rank stopped at its input checks (see rank 0's message)");
    return result;
  } catch (const InputError&) {
    (void)mpi.all_agree(false);
    throw;
  } catch (const io::OutputError&) {
    (void)mpi.all_agree(false);
    throw;
  }
}

}  // namespace cartpk::cli
