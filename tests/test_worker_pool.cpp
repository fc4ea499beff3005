// The persistent worker pool: every run ends after all its threads ran the task, repeatedly; nested and
// concurrent callers get threads of their own instead of waiting (no deadlock).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "parallel/distributed_cohort.hpp"
#include "pkmodel/cohort.hpp"
#include "pkmodel/worker_pool.hpp"

using cartpk::WorkerPool;

TEST_CASE("the worker pool runs a task on n distinct threads and returns when all have finished, run after run") {
  auto& pool = WorkerPool::instance();
  for (int round = 0; round < 200; ++round) {
    std::atomic<int> ran{0};
    std::mutex m;
    std::set<std::thread::id> ids;
    pool.run(3, [&] {
      {
        std::lock_guard<std::mutex> lock(m);
        ids.insert(std::this_thread::get_id());
      }
      if (round % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a slow one now and then
      ++ran;
    });
    REQUIRE(ran.load() == 3);  // all finished before run() returned
    REQUIRE(ids.size() == 3);
  }
}

TEST_CASE("a task that runs the pool again, and two callers at once, complete (no deadlock)") {
  auto& pool = WorkerPool::instance();
  std::atomic<int> inner{0};
  pool.run(2, [&] { pool.run(2, [&] { ++inner; }); });
  CHECK(inner.load() == 4);

  std::atomic<int> total{0};
  std::thread other([&] {
    for (int i = 0; i < 100; ++i) pool.run(2, [&] { ++total; });
  });
  for (int i = 0; i < 100; ++i) pool.run(2, [&] { ++total; });
  other.join();
  CHECK(total.load() == 400);
}

TEST_CASE("run_cohort on the pool: every item once, in a sink that sees each index exactly once") {
  const auto items = cartpk::all_items(1000);
  std::vector<int> seen(items.size(), 0);
  const auto n = cartpk::run_cohort(
      items, {2, nullptr, 7}, [] { return 0; }, [](int&, std::size_t i) { return static_cast<int>(i) * 2; },
      [&](std::size_t i, int&& r) { seen[i] += (r == static_cast<int>(i) * 2); }, [](int&) {});
  CHECK(n == items.size());
  CHECK(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
}

namespace {
// A claim like the MPI backend's: ranges of varying length (sometimes fewer than asked, as a grant's end gives),
// from a source that several threads share; records every range handed out.
struct RaggedSource {
  explicit RaggedSource(std::size_t items) : n(items) {}
  cartpk::ItemRange operator()(std::size_t max_count) {
    std::lock_guard<std::mutex> lock(mutex);
    const std::size_t count = std::min(max_count, 1 + (calls++ * 7) % 5);  // 1..5, at most max_count
    const cartpk::ItemRange range{std::min(next, n), std::min(next + count, n)};
    next = range.last;
    if (!range.empty()) handed += range.size();
    return range;
  }
  std::size_t n, next = 0, calls = 0, handed = 0;
  std::mutex mutex;
};
}  // namespace

TEST_CASE("run_claimed: every item exactly once from a shared claim, for any thread count and block size") {
  for (int threads : {1, 2, 4})
    for (std::size_t block : {1, 3, 16, 5000}) {
      CAPTURE(threads);
      CAPTURE(block);
      RaggedSource source(1000);
      std::vector<int> seen(1000, 0);
      int workspaces = 0;
      const auto n = cartpk::run_claimed(
          [&](std::size_t count) { return source(count); }, 1000, {threads, nullptr, block}, [] { return 0; },
          [](int& calls, std::size_t i) { ++calls; return static_cast<int>(i) * 3; },
          [&](std::size_t i, int&& r) { seen[i] += (r == static_cast<int>(i) * 3); }, [&](int&) { ++workspaces; });
      CHECK(n == 1000);
      CHECK(source.handed == 1000);
      CHECK(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
      CHECK(workspaces == threads);
    }
}

TEST_CASE("run_claimed: interrupted, the count equals the items sunk, which are exactly the ranges claimed") {
  for (int threads : {1, 2, 4})
    for (std::size_t block : {1, 4}) {
      CAPTURE(threads);
      CAPTURE(block);
      RaggedSource source(100000);
      std::atomic<bool> cancel{false};
      std::vector<int> seen(100000, 0);
      std::size_t sunk = 0;
      const auto n = cartpk::run_claimed(
          [&](std::size_t count) { return source(count); }, 100000, {threads, &cancel, block}, [] { return 0; },
          [](int&, std::size_t i) { return static_cast<int>(i); },
          [&](std::size_t i, int&&) {
            ++seen[i];
            if (++sunk == 500) cancel = true;  // no range is claimed after this; those in flight finish
          },
          [](int&) {});
      CHECK(n == sunk);
      CHECK(n >= 500);
      CHECK(n == source.handed);  // a claimed range is always finished whole
      CHECK(n < 100000);
      CHECK(std::all_of(seen.begin(), seen.end(), [](int s) { return s <= 1; }));
      CHECK(std::count(seen.begin(), seen.end(), 1) == static_cast<long>(n));
      // Claimed from a counter in index order: the finished items are a prefix of the indices.
      CHECK(std::all_of(seen.begin(), seen.begin() + static_cast<long>(n), [](int s) { return s == 1; }));
    }
}

TEST_CASE("run_cohort over a list of indices: each listed index once (positions are claimed, indices reach work and sink)") {
  std::vector<std::size_t> items;
  for (std::size_t i = 3; i < 3000; i += 3) items.push_back(i);  // one rank's share, say
  for (int threads : {1, 3}) {
    std::vector<int> seen(3000, 0);
    const auto n = cartpk::run_cohort(
        items, {threads, nullptr, 16}, [] { return 0; }, [](int&, std::size_t i) { return i * 2; },
        [&](std::size_t i, std::size_t&& r) { seen[i] += (r == i * 2); }, [](int&) {});
    CHECK(n == items.size());
    for (std::size_t i = 0; i < seen.size(); ++i) CHECK(seen[i] == (i % 3 == 0 && i > 0 ? 1 : 0));
  }
}

TEST_CASE("MPI grants: a share of what is left in whole blocks, at least one block, at most 64 blocks a thread") {
  using cartpk::parallel::grant_items;
  CHECK(grant_items(100000, 16, 2, 1) == 64 * 16);        // much left: capped
  CHECK(grant_items(100000, 16, 2, 32) == 16 * (100000 / 64));  // 32 threads: remaining / (2 ranks x 2)
  CHECK(grant_items(100000, 16, 2, 8) == 8 * 64 * 16);
  CHECK(grant_items(2000, 16, 2, 1) % 16 == 0);
  CHECK(grant_items(2000, 16, 2, 1) == 16 * (2000 / 64));
  CHECK(grant_items(40, 16, 2, 1) == 16);                  // the tail: one block
  CHECK(grant_items(0, 1, 3, 4) == 1);
  CHECK(grant_items(7, 1, 2, 1) == 1);                     // seven fits on two ranks: one subject at a time
  // Guided: grants shrink as the counter runs down, and a few dozen cover 100,000 items.
  cartpk::ItemCounter counter(100000);
  std::size_t grants = 0, last_size = 1u << 30;
  for (cartpk::ItemRange r; !(r = counter.take(grant_items(counter.remaining(), 16, 2, 4))).empty(); ++grants) {
    CHECK(r.first % 16 == 0);
    CHECK(r.size() <= last_size);
    last_size = r.size();
  }
  CHECK(counter.remaining() == 0);
  CHECK(grants < 200);
}
