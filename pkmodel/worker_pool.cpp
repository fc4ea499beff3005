#include "pkmodel/worker_pool.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace cartpk {

namespace {
constexpr int kSpins = 5000;  // about 0.2–0.5 ms of polling before a thread sleeps

thread_local bool t_in_pool_task = false;  // a task that calls run() again must not wait on the pool it is in

struct InTask {  // marks the calling thread as running a pool task, however the task ends
  InTask() { t_in_pool_task = true; }
  ~InTask() { t_in_pool_task = false; }
};

void pause() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}
}  // namespace

WorkerPool& WorkerPool::instance() {
  static WorkerPool pool;
  return pool;
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(state_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

// A slot of the current task, unless this helper already has one of it (n threads means n distinct threads).
bool WorkerPool::try_claim(std::uint64_t& served) {
  const std::uint64_t current = generation_.load();
  if (current == served) return false;
  int left = unclaimed_.load();
  while (left > 0)
    if (unclaimed_.compare_exchange_weak(left, left - 1)) {
      served = current;
      return true;
    }
  return false;
}

void WorkerPool::serve() {
  t_in_pool_task = true;
  std::uint64_t served = 0;
  while (true) {
    bool claimed = false;
    for (int spin = 0; spin < kSpins && !claimed; ++spin) {
      claimed = try_claim(served);
      if (!claimed) pause();
    }
    if (!claimed) {
      std::unique_lock<std::mutex> lock(state_);
      wake_.wait(lock, [&] { return stopping_.load() || (claimed = try_claim(served)); });
      if (!claimed) return;  // stopping
    }
    (*task_.load())();
    if (running_.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lock(state_);  // the caller may be about to sleep: wake it under the lock
      finished_.notify_all();
    }
  }
}

void WorkerPool::run(unsigned n, const std::function<void()>& task) {
  if (n <= 1) return task();
  std::unique_lock<std::mutex> own;
  if (!t_in_pool_task) own = std::unique_lock<std::mutex>(owner_, std::try_to_lock);
  if (!own.owns_lock()) {  // nested or concurrent: threads of its own
    std::vector<std::thread> helpers;
    for (unsigned i = 1; i < n; ++i) helpers.emplace_back(task);
    task();
    for (auto& t : helpers) t.join();
    return;
  }
  const int helpers = static_cast<int>(n) - 1;
  while (threads_.size() < static_cast<std::size_t>(helpers)) threads_.emplace_back([this] { serve(); });
  task_ = &task;
  running_ = helpers;  // before the slots are published: a helper that finishes fast never drives it negative
  {
    std::lock_guard<std::mutex> lock(state_);
    ++generation_;  // before the slots: a helper that sees a slot sees its generation
    unclaimed_ = helpers;
  }
  wake_.notify_all();
  {
    InTask marked;
    task();
  }
  for (int spin = 0; spin < kSpins && running_.load() > 0; ++spin) pause();
  if (running_.load() > 0) {
    std::unique_lock<std::mutex> lock(state_);
    finished_.wait(lock, [this] { return running_.load() == 0; });
  }
  task_ = nullptr;
}

}  // namespace cartpk
