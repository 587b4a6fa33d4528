#include "load/plan.h"

#include <gtest/gtest.h>

#include <limits.h>

#include <cstddef>
#include <vector>

#include "support/test_support.h"

namespace safeckpt::internal {
namespace {

// Destination memory for the requests of one test; requests point into it.
class Destinations {
 public:
  std::byte* Allocate(uint64_t bytes) {
    buffers_.emplace_back(bytes + 1);
    return buffers_.back().data();
  }

 private:
  std::vector<std::vector<std::byte>> buffers_;
};

CopyRequest Direct(Destinations& memory, uint32_t file, uint64_t offset, uint64_t nbytes,
                   std::string tensor = "t") {
  CopyRequest request;
  request.tensor = std::move(tensor);
  request.file = file;
  request.offset = offset;
  request.nbytes = nbytes;
  request.source_dtype = DType::kU8;
  request.destination_dtype = DType::kU8;
  request.count = nbytes;
  request.destination = memory.Allocate(nbytes);
  return request;
}

CopyRequest Converted(Destinations& memory, DType from, DType to, uint64_t offset,
                      uint64_t count) {
  CopyRequest request;
  request.tensor = "converted";
  request.offset = offset;
  request.count = count;
  request.source_dtype = from;
  request.destination_dtype = to;
  request.nbytes = count * DTypeBits(from) / 8;
  request.destination = memory.Allocate(count * DTypeBits(to) / 8);
  return request;
}

PlanOptions Options(uint32_t workers, uint64_t staging_bytes, uint64_t max_read_bytes) {
  PlanOptions options;
  options.workers = workers;
  options.staging_bytes = staging_bytes;
  options.max_read_bytes = max_read_bytes;
  return options;
}

LoadPlan PlanOrDie(const std::vector<CopyRequest>& requests, const PlanOptions& options = {}) {
  Result<LoadPlan> plan = PlanLoad(requests, options);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? std::move(plan).value() : LoadPlan{};
}

TEST(PlanTest, AdjacentDirectReadsCoalesce) {
  Destinations memory;
  const std::vector<CopyRequest> requests = {Direct(memory, 0, 8, 16, "a"),
                                             Direct(memory, 0, 24, 4, "b"),
                                             Direct(memory, 0, 28, 10, "c")};

  const LoadPlan plan = PlanOrDie(requests);

  ASSERT_EQ(plan.tasks.size(), 1u);
  const ReadTask& task = plan.tasks[0];
  EXPECT_EQ(task.offset, 8u);
  EXPECT_EQ(task.length, 30u);
  ASSERT_EQ(task.targets.size(), 3u);
  EXPECT_EQ(task.targets[0].destination, requests[0].destination);
  EXPECT_EQ(task.targets[1].destination, requests[1].destination);
  EXPECT_EQ(task.targets[2].destination, requests[2].destination);
  EXPECT_EQ(task.targets[2].length, 10u);
  EXPECT_EQ(plan.tensors[task.targets[1].request], "b");
  EXPECT_FALSE(task.conversion.has_value());
  EXPECT_EQ(plan.direct_bytes, 30u);
}

TEST(PlanTest, GapOrOtherFileStartsNewRead) {
  Destinations memory;
  const std::vector<CopyRequest> requests = {Direct(memory, 0, 8, 16), Direct(memory, 0, 25, 4),
                                             Direct(memory, 1, 29, 4)};

  const LoadPlan plan = PlanOrDie(requests);

  ASSERT_EQ(plan.tasks.size(), 3u);
  EXPECT_EQ(plan.tasks[0].offset, 8u);
  EXPECT_EQ(plan.tasks[1].offset, 25u);
  EXPECT_EQ(plan.tasks[2].file, 1u);
}

TEST(PlanTest, TasksSortedByFileAndOffset) {
  Destinations memory;
  const std::vector<CopyRequest> requests = {
      Direct(memory, 1, 8, 4), Direct(memory, 0, 100, 4), Direct(memory, 0, 8, 4),
      Converted(memory, DType::kBF16, DType::kF32, 50, 2)};

  const LoadPlan plan = PlanOrDie(requests);

  ASSERT_EQ(plan.tasks.size(), 4u);
  EXPECT_EQ(plan.tasks[0].offset, 8u);
  EXPECT_EQ(plan.tasks[1].offset, 50u);
  EXPECT_TRUE(plan.tasks[1].conversion.has_value());
  EXPECT_EQ(plan.tasks[2].offset, 100u);
  EXPECT_EQ(plan.tasks[3].file, 1u);
}

TEST(PlanTest, LargeDirectReadSplits) {
  Destinations memory;
  const std::vector<CopyRequest> requests = {Direct(memory, 0, 8, 100)};

  const LoadPlan plan = PlanOrDie(requests, Options(1, 1024, 32));

  ASSERT_EQ(plan.tasks.size(), 4u);
  auto* destination = static_cast<std::byte*>(requests[0].destination);
  for (size_t i = 0; i < plan.tasks.size(); ++i) {
    EXPECT_EQ(plan.tasks[i].offset, 8 + 32 * i);
    ASSERT_EQ(plan.tasks[i].targets.size(), 1u);
    EXPECT_EQ(plan.tasks[i].targets[0].destination, destination + 32 * i);
  }
  EXPECT_EQ(plan.tasks[3].length, 4u);
}

TEST(PlanTest, CoalescedReadStopsAtMaxRead) {
  Destinations memory;
  const std::vector<CopyRequest> requests = {Direct(memory, 0, 0, 20), Direct(memory, 0, 20, 20),
                                             Direct(memory, 0, 40, 20)};

  const LoadPlan plan = PlanOrDie(requests, Options(1, 1024, 32));

  ASSERT_EQ(plan.tasks.size(), 2u);
  EXPECT_EQ(plan.tasks[0].length, 32u);
  EXPECT_EQ(plan.tasks[1].offset, 32u);
  EXPECT_EQ(plan.tasks[1].length, 28u);
  ASSERT_EQ(plan.tasks[0].targets.size(), 2u);
  EXPECT_EQ(plan.tasks[0].targets[1].length, 12u);
  EXPECT_EQ(plan.tasks[1].targets[0].destination,
            static_cast<std::byte*>(requests[1].destination) + 12);
}

TEST(PlanTest, CoalescedReadStopsAtIovMax) {
  Destinations memory;
  std::vector<CopyRequest> requests;
  for (uint64_t i = 0; i < IOV_MAX + 5; ++i) requests.push_back(Direct(memory, 0, i, 1));

  const LoadPlan plan = PlanOrDie(requests);

  ASSERT_EQ(plan.tasks.size(), 2u);
  EXPECT_EQ(plan.tasks[0].targets.size(), static_cast<size_t>(IOV_MAX));
  EXPECT_EQ(plan.tasks[1].targets.size(), 5u);
  EXPECT_EQ(plan.tasks[1].offset, static_cast<uint64_t>(IOV_MAX));
}

TEST(PlanTest, ConversionSplitsIntoWholeElements) {
  Destinations memory;
  const std::vector<CopyRequest> requests = {
      Converted(memory, DType::kBF16, DType::kF32, 9, 1000)};

  // 1024 bytes of staging over 4 workers: 256 bytes, 128 BF16 elements each.
  const LoadPlan plan = PlanOrDie(requests, Options(4, 1024, 1 << 20));

  ASSERT_EQ(plan.tasks.size(), 8u);
  auto* destination = static_cast<std::byte*>(requests[0].destination);
  for (size_t i = 0; i < plan.tasks.size(); ++i) {
    const ReadTask& task = plan.tasks[i];
    ASSERT_TRUE(task.conversion.has_value());
    EXPECT_EQ(task.offset, 9 + 256 * i);
    EXPECT_EQ(task.conversion->destination, destination + 512 * i);
    EXPECT_EQ(task.length, 2 * task.conversion->count);
  }
  EXPECT_EQ(plan.tasks[7].conversion->count, 1000u - 7 * 128);
  EXPECT_EQ(plan.converted_bytes, 2000u);
  EXPECT_EQ(plan.staging_bytes_per_worker, 256u);
}

TEST(PlanTest, ConversionChunkFollowsMaxRead) {
  Destinations memory;
  const std::vector<CopyRequest> requests = {Converted(memory, DType::kF16, DType::kF32, 0, 100)};

  const LoadPlan plan = PlanOrDie(requests, Options(1, 1 << 20, 64));

  ASSERT_EQ(plan.tasks.size(), 4u);
  EXPECT_EQ(plan.tasks[0].conversion->count, 32u);
  EXPECT_EQ(plan.staging_bytes_per_worker, 64u);
}

TEST(PlanTest, StagingNeverExceedsBound) {
  Destinations memory;
  const std::vector<CopyRequest> requests = {
      Converted(memory, DType::kF64, DType::kF32, 0, 1000),
      Converted(memory, DType::kBF16, DType::kF32, 8000, 3000),
      Converted(memory, DType::kF8_E4M3, DType::kF32, 14000, 777)};

  for (uint32_t workers : {1u, 3u, 7u}) {
    for (uint64_t staging : {100ull, 1000ull, 4096ull}) {
      const LoadPlan plan = PlanOrDie(requests, Options(workers, staging, 1 << 20));
      EXPECT_LE(plan.staging_bytes_per_worker * workers, staging)
          << workers << " workers, " << staging << " bytes";
      for (const ReadTask& task : plan.tasks) {
        EXPECT_LE(task.length, plan.staging_bytes_per_worker);
      }
    }
  }
}

TEST(PlanTest, ZeroSizeRequestsSkipped) {
  CopyRequest empty;
  empty.tensor = "empty";
  empty.source_dtype = DType::kBF16;
  empty.destination_dtype = DType::kF32;

  const LoadPlan plan = PlanOrDie({empty});

  EXPECT_TRUE(plan.tasks.empty());
  EXPECT_EQ(plan.staging_bytes_per_worker, 0u);
}

TEST(PlanTest, SubByteIdentityReadsDirectly) {
  Destinations memory;
  CopyRequest request = Direct(memory, 0, 8, 3);
  request.source_dtype = DType::kF4;
  request.destination_dtype = DType::kF4;
  request.count = 6;

  const LoadPlan plan = PlanOrDie({request});

  ASSERT_EQ(plan.tasks.size(), 1u);
  EXPECT_FALSE(plan.tasks[0].conversion.has_value());
  EXPECT_EQ(plan.tasks[0].length, 3u);
}

TEST(PlanTest, SizeDisagreeingWithCountRejected) {
  Destinations memory;
  CopyRequest request = Converted(memory, DType::kBF16, DType::kF32, 0, 10);
  request.nbytes = 19;

  EXPECT_ERROR(PlanLoad({request}, {}), ErrorId::kSizeMismatch, "10 elements of BF16 do not fill 19 bytes");
}

TEST(PlanTest, NullDestinationRejected) {
  Destinations memory;
  CopyRequest request = Direct(memory, 0, 0, 4, "w");
  request.destination = nullptr;

  EXPECT_ERROR(PlanLoad({request}, {}), ErrorId::kDestinationInvalid, "tensor 'w'");
}

TEST(PlanTest, OverflowingRangeRejected) {
  Destinations memory;
  CopyRequest request = Direct(memory, 0, UINT64_MAX - 2, 4, "w");

  EXPECT_ERROR(PlanLoad({request}, {}), ErrorId::kOffsetsInvalid, "overflows 64 bits");
}

TEST(PlanTest, UnsupportedConversionRejected) {
  Destinations memory;
  CopyRequest request = Converted(memory, DType::kF32, DType::kI32, 0, 4);
  request.tensor = "w";

  EXPECT_ERROR(PlanLoad({request}, {}), ErrorId::kUnsupportedConversion, "cannot convert F32 to I32");
}

TEST(PlanTest, StagingSmallerThanElementRejected) {
  Destinations memory;
  const std::vector<CopyRequest> requests = {Converted(memory, DType::kF64, DType::kF32, 0, 4)};

  EXPECT_ERROR(PlanLoad(requests, Options(4, 16, 1 << 20)), ErrorId::kUnsupportedConversion,
               "needs 8 bytes of staging per worker");
}

}  // namespace
}  // namespace safeckpt::internal
