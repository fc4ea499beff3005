// The persistent worker pool: every run ends after all its threads ran the task, repeatedly; nested and
// concurrent callers get threads of their own instead of waiting (no deadlock).
#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <thread>

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
