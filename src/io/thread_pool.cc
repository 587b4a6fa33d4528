#include "io/thread_pool.h"

#include <exception>
#include <string>
#include <system_error>

namespace safeckpt::internal {
namespace {

// Runs one task, turning an escaping exception into a Status so that it
// neither terminates the worker thread nor crosses the library boundary.
Status InvokeTask(const ThreadPool::Task& task, size_t index, uint32_t worker) {
  try {
    return task(index, worker);
  } catch (const std::exception& error) {
    return Status(StatusCode::kInvalidArgument, ErrorId::kInternal,
                  "task " + std::to_string(index) + " threw an exception: " + error.what());
  } catch (...) {
    return Status(StatusCode::kInvalidArgument, ErrorId::kInternal,
                  "task " + std::to_string(index) + " threw an exception of unknown type");
  }
}

}  // namespace

ThreadPool::ThreadPool(uint32_t threads) {
  if (threads == 0) threads = 1;
  workers_.reserve(threads);
  for (uint32_t worker = 0; worker < threads; ++worker) {
    // The system may refuse more threads (RLIMIT_NPROC, memory). The pool
    // then runs with the workers it got, or on the caller's thread.
    try {
      workers_.emplace_back([this, worker] { WorkerLoop(worker); });
    } catch (const std::system_error&) {
      break;
    }
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& thread : workers_) thread.join();
}

Status ThreadPool::Run(size_t count, const Task& task) {
  if (count == 0) return Status::Ok();
  if (workers_.empty()) return RunInline(count, task);
  std::lock_guard<std::mutex> run_lock(run_mutex_);

  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &task;
    count_ = count;
    next_ = 0;
    first_error_ = Status::Ok();
    busy_workers_ = size();
    ++generation_;
  }
  work_ready_.notify_all();

  // Every worker passes through RunTasks once per batch, so none can miss a
  // generation: the next batch starts only after all of them are done.
  std::unique_lock<std::mutex> lock(mutex_);
  work_done_.wait(lock, [this] { return busy_workers_ == 0; });
  task_ = nullptr;
  return first_error_;
}

void ThreadPool::WorkerLoop(uint32_t worker) {
  uint64_t seen_generation = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_ready_.wait(lock, [&] { return stopping_ || generation_ != seen_generation; });
      if (stopping_) return;
      seen_generation = generation_;
    }
    RunTasks(worker);
  }
}

void ThreadPool::RunTasks(uint32_t worker) {
  for (;;) {
    size_t index = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (next_ >= count_ || !first_error_.ok()) break;
      index = next_++;
    }

    Status status = InvokeTask(*task_, index, worker);
    if (!status.ok()) RecordError(std::move(status));
  }

  std::lock_guard<std::mutex> lock(mutex_);
  --busy_workers_;
  if (busy_workers_ == 0) work_done_.notify_all();
}

Status ThreadPool::RunInline(size_t count, const Task& task) {
  for (size_t index = 0; index < count; ++index) {
    SAFECKPT_RETURN_IF_ERROR(InvokeTask(task, index, 0));
  }
  return Status::Ok();
}

void ThreadPool::RecordError(Status status) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (first_error_.ok()) first_error_ = std::move(status);
}

}  // namespace safeckpt::internal
