#include "io/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/test_support.h"

namespace safeckpt::internal {
namespace {

Status Failure(size_t task) {
  return IoError(ErrorId::kReadFailed, "task " + std::to_string(task) + " failed");
}

TEST(ThreadPoolTest, RunsEveryTaskOnce) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> runs(1000);

  Status status = pool.Run(runs.size(), [&](size_t task, uint32_t) {
    runs[task].fetch_add(1);
    return Status::Ok();
  });

  EXPECT_TRUE(status.ok()) << status.ToString();
  for (size_t i = 0; i < runs.size(); ++i) EXPECT_EQ(runs[i].load(), 1) << "task " << i;
}

TEST(ThreadPoolTest, WorkerIndexBelowSize) {
  ThreadPool pool(3);
  std::atomic<uint32_t> largest_worker{0};

  Status status = pool.Run(200, [&](size_t, uint32_t worker) {
    uint32_t seen = largest_worker.load();
    while (worker > seen && !largest_worker.compare_exchange_weak(seen, worker)) {
    }
    return Status::Ok();
  });

  EXPECT_TRUE(status.ok());
  EXPECT_LT(largest_worker.load(), pool.size());
}

TEST(ThreadPoolTest, TasksRunConcurrently) {
  ThreadPool pool(4);
  std::atomic<int> started{0};

  // Each task waits until all four have started; this only finishes when
  // four workers run at once.
  Status status = pool.Run(4, [&](size_t task, uint32_t) {
    started.fetch_add(1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (started.load() < 4) {
      if (std::chrono::steady_clock::now() > deadline) return Failure(task);
      std::this_thread::yield();
    }
    return Status::Ok();
  });

  EXPECT_TRUE(status.ok()) << status.ToString();
}

TEST(ThreadPoolTest, ErrorSkipsTasksNotStarted) {
  ThreadPool pool(1);
  std::atomic<int> runs{0};

  Status status = pool.Run(100, [&](size_t task, uint32_t) {
    runs.fetch_add(1);
    return task == 3 ? Failure(task) : Status::Ok();
  });

  EXPECT_ERROR(Result<bool>(status), ErrorId::kReadFailed, "task 3 failed");
  EXPECT_EQ(runs.load(), 4);
}

TEST(ThreadPoolTest, FirstErrorWins) {
  ThreadPool pool(1);

  Status status = pool.Run(10, [&](size_t task, uint32_t) {
    return task >= 5 ? Failure(task) : Status::Ok();
  });

  EXPECT_ERROR(Result<bool>(status), ErrorId::kReadFailed, "task 5 failed");
}

TEST(ThreadPoolTest, ErrorStopsOtherWorkersEarly) {
  ThreadPool pool(4);
  std::atomic<int> runs{0};

  Status status = pool.Run(10000, [&](size_t task, uint32_t) {
    runs.fetch_add(1);
    if (task == 0) return Failure(task);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    return Status::Ok();
  });

  EXPECT_FALSE(status.ok());
  EXPECT_LT(runs.load(), 10000);
}

TEST(ThreadPoolTest, ThrowingTaskBecomesInternalError) {
  ThreadPool pool(2);

  Status status = pool.Run(3, [&](size_t task, uint32_t) -> Status {
    if (task == 1) throw std::runtime_error("out of staging");
    return Status::Ok();
  });

  EXPECT_ERROR(Result<bool>(status), ErrorId::kInternal, "out of staging");
}

TEST(ThreadPoolTest, RunsSeveralBatches) {
  ThreadPool pool(3);
  std::atomic<int> runs{0};

  for (int batch = 0; batch < 50; ++batch) {
    Status status = pool.Run(7, [&](size_t, uint32_t) {
      runs.fetch_add(1);
      return Status::Ok();
    });
    ASSERT_TRUE(status.ok()) << "batch " << batch;
  }
  EXPECT_EQ(runs.load(), 350);

  Status failed = pool.Run(2, [&](size_t task, uint32_t) { return Failure(task); });
  EXPECT_FALSE(failed.ok());
  Status after_failure = pool.Run(2, [&](size_t, uint32_t) { return Status::Ok(); });
  EXPECT_TRUE(after_failure.ok());
}

TEST(ThreadPoolTest, EmptyBatchSucceeds) {
  ThreadPool pool(2);
  Status status = pool.Run(0, [&](size_t task, uint32_t) { return Failure(task); });
  EXPECT_TRUE(status.ok());
}

TEST(ThreadPoolTest, ZeroThreadsMeansOne) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.size(), 1u);
}

}  // namespace
}  // namespace safeckpt::internal
