#include "parallel/mpi_session.hpp"

#include <cstdlib>
#include <cstring>

#ifdef CARTPK_HAVE_MPI
#include <mpi.h>
#endif

namespace cartpk::parallel {

namespace {
const MpiSession* g_world = nullptr;

// Launched by a process manager: OpenMPI's mpirun, MPICH/Hydra, or Slurm's srun with PMI(x).
bool launched_by_mpi() {
  for (const char* variable : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_STEP_NUM_TASKS"})
    if (std::getenv(variable)) return true;
  return false;
}

#ifdef CARTPK_HAVE_MPI
void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw MpiError(std::string("MPI: ") + call + " failed: " + std::string(text, static_cast<std::size_t>(length)));
}
#endif
}  // namespace

bool MpiSession::built_with_mpi() {
#ifdef CARTPK_HAVE_MPI
  return true;
#else
  return false;
#endif
}

MpiSession::MpiSession(int& argc, char**& argv) {
#ifdef CARTPK_HAVE_MPI
  if (!launched_by_mpi()) return;
  int provided = 0;
  check(MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
  initialised_ = true;
  if (provided < MPI_THREAD_SERIALIZED)
    throw MpiError("MPI: this MPI library gives thread level " + std::to_string(provided) +
                   ", cartpk needs MPI_THREAD_SERIALIZED (threads inside each rank)");
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
#else
  (void)argc;
  (void)argv;
#endif
}

MpiSession::~MpiSession() {
#ifdef CARTPK_HAVE_MPI
  if (initialised_) MPI_Finalize();
#endif
  if (g_world == this) g_world = nullptr;
}

void MpiSession::send(int destination, int tag, const std::vector<std::byte>& bytes) const {
#ifdef CARTPK_HAVE_MPI
  check(MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, destination, tag, MPI_COMM_WORLD), "MPI_Send");
#else
  (void)destination, (void)tag, (void)bytes;
  throw MpiError("MPI: send called in a build without MPI");
#endif
}

Message MpiSession::receive_any() const {
#ifdef CARTPK_HAVE_MPI
  MPI_Status status;
  check(MPI_Probe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &status), "MPI_Probe");
  int count = 0;
  check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
  Message message{status.MPI_SOURCE, status.MPI_TAG, std::vector<std::byte>(static_cast<std::size_t>(count))};
  check(MPI_Recv(message.bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE), "MPI_Recv");
  return message;
#else
  throw MpiError("MPI: receive called in a build without MPI");
#endif
}

bool MpiSession::poll(Message& message) const {
#ifdef CARTPK_HAVE_MPI
  int waiting = 0;
  MPI_Status status;
  check(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &waiting, &status), "MPI_Iprobe");
  if (!waiting) return false;
  int count = 0;
  check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
  message.source = status.MPI_SOURCE;
  message.tag = status.MPI_TAG;
  message.bytes.resize(static_cast<std::size_t>(count));  // keeps its capacity: no allocation once grown
  check(MPI_Recv(message.bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE), "MPI_Recv");
  return true;
#else
  (void)message;
  throw MpiError("MPI: poll called in a build without MPI");
#endif
}

void MpiSession::isend(int destination, int tag, const std::vector<std::byte>& bytes, PendingSend& pending) const {
#ifdef CARTPK_HAVE_MPI
  static_assert(sizeof(MPI_Request) <= sizeof(pending.request_));
  if (pending.active_) throw MpiError("MPI: isend on a send still in flight");
  MPI_Request request;
  check(MPI_Isend(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, destination, tag, MPI_COMM_WORLD, &request),
        "MPI_Isend");
  std::memcpy(pending.request_, &request, sizeof request);
  pending.active_ = true;
#else
  (void)destination, (void)tag, (void)bytes, (void)pending;
  throw MpiError("MPI: isend called in a build without MPI");
#endif
}

void PendingSend::wait() {
  if (!active_) return;
  active_ = false;
#ifdef CARTPK_HAVE_MPI
  MPI_Request request;
  std::memcpy(&request, request_, sizeof request);
  check(MPI_Wait(&request, MPI_STATUS_IGNORE), "MPI_Wait");
#endif
}

PendingSend::~PendingSend() {
  try {
    wait();
  } catch (...) {  // a destructor does not throw; the failure shows in the next MPI call
  }
}

std::optional<Message> MpiSession::poll() const {
#ifdef CARTPK_HAVE_MPI
  int waiting = 0;
  check(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &waiting, MPI_STATUS_IGNORE), "MPI_Iprobe");
  if (!waiting) return std::nullopt;
  return receive_any();
#else
  throw MpiError("MPI: poll called in a build without MPI");
#endif
}

void MpiSession::abort(int code) const {
#ifdef CARTPK_HAVE_MPI
  if (initialised_) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

bool MpiSession::all_agree(bool ok) const {
#ifdef CARTPK_HAVE_MPI
  if (!initialised_) return ok;
  int mine = ok ? 1 : 0, all = 0;
  check(MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD), "MPI_Allreduce");
  return all != 0;
#else
  return ok;
#endif
}

const MpiSession& world() {
  if (g_world) return *g_world;
  static int argc = 0;
  static char** argv = nullptr;
  static const MpiSession single(argc, argv);  // not launched by mpirun in tests: a single rank
  return single;
}

void set_world(const MpiSession* session) { g_world = session; }

}  // namespace cartpk::parallel
