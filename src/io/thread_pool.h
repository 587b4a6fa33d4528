// A small fixed pool of worker threads that runs batches of indexed tasks.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <algorithm>
#include <vector>

#include "safeckpt/status.h"

namespace safeckpt::internal {

// Runs one batch at a time on `size()` threads started by the constructor
// and joined by the destructor.
//
// Thread safety: Run() may be called from one thread at a time (concurrent
// calls are serialised). Tasks run concurrently with each other and must
// synchronise any state they share.
class ThreadPool {
 public:
  // A task receives its index in [0, count) and the index of the worker
  // running it in [0, size()), so callers can keep per-worker state such as
  // buffers without locking.
  using Task = std::function<Status(size_t task, uint32_t worker)>;

  // Starts `threads` workers; 0 is treated as 1. When the system refuses to
  // start some, the pool keeps those it got; with none, Run() executes tasks
  // on the calling thread as worker 0.
  explicit ThreadPool(uint32_t threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Number of workers, at least 1 (the calling thread when none started).
  uint32_t size() const { return std::max<uint32_t>(1, static_cast<uint32_t>(workers_.size())); }

  // Runs task(i, worker) for every i in [0, count) and waits for them. Tasks
  // start in index order. The first error wins: tasks not yet started are
  // skipped, tasks already running finish, and that error is returned. A
  // task that throws counts as failing with kInternal.
  Status Run(size_t count, const Task& task);

 private:
  void WorkerLoop(uint32_t worker);
  void RunTasks(uint32_t worker);
  void RecordError(Status status);
  Status RunInline(size_t count, const Task& task);

  std::vector<std::thread> workers_;
  std::mutex run_mutex_;  // serialises Run()

  std::mutex mutex_;  // guards every field below
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  uint64_t generation_ = 0;  // incremented when a batch starts
  bool stopping_ = false;
  const Task* task_ = nullptr;
  size_t count_ = 0;
  size_t next_ = 0;          // next task index to hand out
  uint32_t busy_workers_ = 0;
  Status first_error_;
};

}  // namespace safeckpt::internal
