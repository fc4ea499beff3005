#pragma once
// MPI, owned: one MpiSession per process (made in main) initialises MPI when the program runs under mpirun (or
// srun) and finalises it on exit; without MPI in the build, or outside a launcher, it is a single rank. Nothing
// else in cartpk includes <mpi.h>: ranks exchange byte messages through this class, and every failing MPI call
// becomes an MpiError naming the call.
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace cartpk::parallel {

class MpiError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Message {
  int source = -1;
  int tag = -1;
  std::vector<std::byte> bytes;
};

// A send in flight (MpiSession::isend): its bytes must stay alive and unchanged until wait() returns. The
// destructor waits.
class PendingSend {
 public:
  PendingSend() = default;
  ~PendingSend();
  PendingSend(const PendingSend&) = delete;
  PendingSend& operator=(const PendingSend&) = delete;
  void wait();
  [[nodiscard]] bool active() const { return active_; }

 private:
  friend class MpiSession;
  alignas(8) unsigned char request_[16] = {};  // an MPI_Request
  bool active_ = false;
};

class MpiSession {
 public:
  MpiSession(int& argc, char**& argv);  // MPI_Init_thread (serialized) when launched by mpirun/srun
  ~MpiSession();                        // MPI_Finalize
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  [[nodiscard]] int rank() const { return rank_; }
  [[nodiscard]] int size() const { return size_; }
  [[nodiscard]] bool distributed() const { return size_ > 1; }
  [[nodiscard]] static bool built_with_mpi();

  // Blocking point-to-point byte messages; calls must be serialised (one thread at a time per process).
  void send(int destination, int tag, const std::vector<std::byte>& bytes) const;
  [[nodiscard]] Message receive_any() const;  // from any rank, any tag
  [[nodiscard]] std::optional<Message> poll() const;  // a waiting message, or none (does not block)
  // The same into `message`, reusing its buffer; false when none is waiting.
  bool poll(Message& message) const;
  // Starts sending without waiting for the receiver (MPI_Isend); `pending` must be inactive (wait() it first).
  void isend(int destination, int tag, const std::vector<std::byte>& bytes, PendingSend& pending) const;
  void abort(int code) const;                 // MPI_Abort: every rank stops (a rank 0 failure mid-run)
  // Collective: true when every rank passes true (after input checks, so no rank starts work alone).
  [[nodiscard]] bool all_agree(bool ok) const;

 private:
  int rank_ = 0;
  int size_ = 1;
  bool initialised_ = false;
};

// The process's session (set by main); a single-rank session when none was made (tests, fuzzers).
const MpiSession& world();
void set_world(const MpiSession* session);

}  // namespace cartpk::parallel
