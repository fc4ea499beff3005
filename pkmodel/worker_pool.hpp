#pragma once
// The process's worker threads, started once and kept: a population fit maps over its subjects thousands of
// times (every SAEM iteration, every FOCE-I objective), and starting threads, or waking sleeping ones (tens of
// µs on a VM), for each map cost 5–10 % of it. Between tasks a helper spins briefly before it sleeps.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace cartpk {

class WorkerPool {
 public:
  static WorkerPool& instance();

  // Runs `task` on `n` threads at once, the caller being one of them, and returns when all n have finished.
  // `task` must not throw. From inside a task, or while another caller holds the pool, the helpers are plain
  // threads started for this call instead, so nested or concurrent use never waits on the pool.
  void run(unsigned n, const std::function<void()>& task);

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool();

 private:
  WorkerPool() = default;
  void serve();
  bool try_claim(std::uint64_t& served);

  std::mutex owner_;  // held by the caller using the pool's threads
  std::mutex state_;  // guards sleeping and waking
  std::condition_variable wake_, finished_;
  std::vector<std::thread> threads_;
  std::atomic<const std::function<void()>*> task_{nullptr};
  std::atomic<std::uint64_t> generation_{0};  // tasks started so far: a helper takes one slot of each
  std::atomic<int> unclaimed_{0};  // helper slots of the current task not yet taken
  std::atomic<int> running_{0};    // helper slots not yet finished
  std::atomic<bool> stopping_{false};
};

}  // namespace cartpk
