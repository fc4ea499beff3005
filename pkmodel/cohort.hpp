#pragma once
// The cohort executor: runs N independent items (subjects of a fit, virtual patients, trial replicates) on a pool
// of threads, each thread with its own workspace (a solver and scratch), and hands every finished item to a sink,
// one at a time. Items are claimed in index order, so with a cancel flag set the finished ones are a prefix plus
// those in flight. What an item computes must depend only on its index, never on the thread: then results do not
// depend on the thread count. Where the indices come from is pluggable (run_claimed): a counter here, grants
// from rank 0 in the MPI backend (parallel/distributed_cohort.hpp), which runs this on every rank.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "pkmodel/worker_pool.hpp"

namespace cartpk {

struct CohortOptions {
  int threads = 0;                          // 0: all cores
  const std::atomic<bool>* cancel = nullptr;  // when set, no new item is started
  std::size_t block = 1;                    // items a thread claims at once and hands to the sink together
                                            // (for cheap items: one lock per block instead of per item;
                                            // the MPI backend deals whole blocks to ranks)
};

// Threads to use for n items: the request (0: all cores), at most one per item, at least one.
inline unsigned cohort_threads(int requested, std::size_t n_items) {
  // Asked once: glibc reads /sys for it, and a population fit asks at each of its thousands of maps.
  static const unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
  const unsigned wanted = requested > 0 ? static_cast<unsigned>(requested) : hardware;
  return static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(wanted, n_items)));
}

// Item indices [first, last) handed out by a claim; empty: none left.
struct ItemRange {
  std::size_t first = 0, last = 0;
  [[nodiscard]] bool empty() const { return first >= last; }
  [[nodiscard]] std::size_t size() const { return empty() ? 0 : last - first; }
};

// Hands out 0..n-1 in index order, to any number of threads (one atomic add per claim).
class ItemCounter {
 public:
  explicit ItemCounter(std::size_t n) : n_(n) {}
  ItemRange take(std::size_t count) {
    const std::size_t first = std::min(next_.fetch_add(count), n_);  // past n after the end: clamped, empty
    return {first, std::min(first + count, n_)};
  }
  [[nodiscard]] std::size_t remaining() const { return n_ - std::min(next_.load(), n_); }

 private:
  std::size_t n_;
  std::atomic<std::size_t> next_{0};
};

// The executor over any source of indices: claim(max_count) -> ItemRange of at most max_count indices not handed
// out before (called by several threads at once; an empty range: no more). n_items bounds the threads used.
// make() -> Workspace, once per thread; work(Workspace&, index) -> Result; sink(index, Result&&), serialised;
// finish(Workspace&), serialised, once per thread after its last item (to merge per-thread accumulators). Returns
// the number of items finished. An exception from work() stops the pool and is rethrown here; work() should catch
// what belongs to one item.
template <class Claim, class Make, class Work, class Sink, class Finish>
std::size_t run_claimed(Claim claim, std::size_t n_items, const CohortOptions& options, Make make, Work work,
                        Sink sink, Finish finish) {
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::size_t finished = 0;
  std::mutex serial;
  const std::size_t block = std::max<std::size_t>(1, options.block);
  auto worker = [&] {
    try {
      auto workspace = make();
      using Result = std::invoke_result_t<Work&, decltype(workspace)&, std::size_t>;
      std::vector<Result> results;
      while (!failed.load() && !(options.cancel && options.cancel->load())) {
        const ItemRange range = claim(block);
        if (range.empty()) break;
        results.clear();
        for (std::size_t i = range.first; i < range.last; ++i) results.push_back(work(workspace, i));
        std::lock_guard<std::mutex> lock(serial);
        for (std::size_t i = range.first; i < range.last; ++i) sink(i, std::move(results[i - range.first]));
        finished += range.size();
      }
      std::lock_guard<std::mutex> lock(serial);
      finish(workspace);
    } catch (...) {
      std::lock_guard<std::mutex> lock(serial);
      if (!error) error = std::current_exception();
      failed = true;
    }
  };
  WorkerPool::instance().run(cohort_threads(options.threads, n_items), worker);
  if (error) std::rethrow_exception(error);
  return finished;
}

// items: the indices to run (e.g. all, or one MPI rank's share), claimed in this order by position; otherwise as
// run_claimed.
template <class Make, class Work, class Sink, class Finish>
std::size_t run_cohort(const std::vector<std::size_t>& items, const CohortOptions& options, Make make, Work work,
                       Sink sink, Finish finish) {
  ItemCounter positions(items.size());
  return run_claimed(
      [&](std::size_t count) { return positions.take(count); }, items.size(), options, make,
      [&](auto& workspace, std::size_t k) { return work(workspace, items[k]); },
      [&](std::size_t k, auto&& result) { sink(items[k], std::move(result)); }, finish);
}

inline std::vector<std::size_t> all_items(std::size_t n) {
  std::vector<std::size_t> items(n);
  for (std::size_t i = 0; i < n; ++i) items[i] = i;
  return items;
}

// Releases results in index order: push(i, r) as they finish (any order); `deliver(i, r)` is called for each
// item once every item before it has been delivered. Memory holds only the out-of-order ones.
template <class Result>
class InOrder {
 public:
  explicit InOrder(std::vector<std::size_t> order) : order_(std::move(order)) {}
  template <class Deliver>
  void push(std::size_t index, Result&& result, Deliver deliver) {
    if (waiting_.empty() && next_ < order_.size() && order_[next_] == index) {  // the next one: no waiting
      deliver(index, std::move(result));
      ++next_;
      return;
    }
    waiting_.emplace(index, std::move(result));
    while (next_ < order_.size()) {
      auto it = waiting_.find(order_[next_]);
      if (it == waiting_.end()) break;
      deliver(it->first, std::move(it->second));
      waiting_.erase(it);
      ++next_;
    }
  }
  [[nodiscard]] std::size_t delivered() const { return next_; }

 private:
  std::vector<std::size_t> order_;
  std::map<std::size_t, Result> waiting_;
  std::size_t next_ = 0;
};

}  // namespace cartpk
