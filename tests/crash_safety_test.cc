// Crash safety of the writer: SIGKILL at random moments of a convert, and a
// full file system (a file size limit, and a small tmpfs where mounting is
// permitted). Afterwards the destination is absent, marked incomplete, or
// opens and equals the source. A checkpoint that was there before is intact.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <random>
#include <thread>

#include "safeckpt/checkpoint.h"
#include "safeckpt/compare.h"
#include "safeckpt/convert.h"
#include "safeckpt/writer.h"
#include "save/checkpoint_writer.h"
#include "support/test_support.h"

namespace safeckpt {
namespace {

namespace fs = std::filesystem;
using testing::ShellQuote;
using testing::TempDir;

// Tensors of the source: 16 MiB of F32 and I32 data.
constexpr int kTensorCount = 16;
constexpr uint64_t kTensorElements = 256 * 1024;

void WriteSource(const std::string& path, int seed) {
  std::vector<std::vector<int32_t>> data(kTensorCount, std::vector<int32_t>(kTensorElements));
  std::vector<TensorToWrite> tensors;
  for (int t = 0; t < kTensorCount; ++t) {
    for (uint64_t i = 0; i < kTensorElements; ++i) data[t][i] = static_cast<int32_t>(i * 31 + t * 7 + seed);
    DType dtype = t % 2 == 0 ? DType::kF32 : DType::kI32;
    tensors.push_back({"model.layers." + std::to_string(t) + ".weight", dtype, {512, 512}, data[t].data()});
  }
  ASSERT_TRUE(WriteSafetensors(path, tensors).ok());
}

bool Equal(const Checkpoint& a, const Checkpoint& b) {
  auto report = CompareCheckpoints(a, b);
  return report.ok() && report->equal();
}

std::vector<std::string> Entries(const std::string& path) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(path, error)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Starts `arguments` (a program path first) with stdout and stderr discarded.
pid_t Spawn(const std::vector<std::string>& arguments) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    FILE* null = std::fopen("/dev/null", "w");
    if (null != nullptr) {
      ::dup2(fileno(null), 1);
      ::dup2(fileno(null), 2);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// Runs `arguments` to completion and returns the wall time in seconds.
double TimeRun(const std::vector<std::string>& arguments) {
  auto start = std::chrono::steady_clock::now();
  pid_t pid = Spawn(arguments);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status)) << "calibration run did not exit";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "calibration run failed";
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Runs `arguments` and kills it with SIGKILL after `delay` seconds unless it
// finished first. Returns true when it was killed.
bool RunAndKill(const std::vector<std::string>& arguments, double delay) {
  pid_t pid = Spawn(arguments);
  std::this_thread::sleep_for(std::chrono::duration<double>(delay));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

enum class Outcome { kAbsent, kIncomplete, kComplete, kOld, kBroken };

// Classifies what a killed convert left at `destination`.
Outcome Inspect(const std::string& destination, const Checkpoint& source, const Checkpoint* old,
                std::string& detail) {
  if (!fs::exists(destination)) return Outcome::kAbsent;
  auto opened = Checkpoint::Open(destination);
  if (!opened.ok()) {
    detail = opened.status().ToString();
    bool incomplete = opened.status().id() == ErrorId::kIncompleteCheckpoint &&
                      opened.status().message().find("incomplete checkpoint") != std::string::npos;
    return incomplete ? Outcome::kIncomplete : Outcome::kBroken;
  }
  if (Equal(source, *opened)) return Outcome::kComplete;
  if (old != nullptr && Equal(*old, *opened)) return Outcome::kOld;
  detail = "opens but equals neither the source nor the old checkpoint";
  return Outcome::kBroken;
}

class KillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_path_ = dir_.Join("source.safetensors");
    old_path_ = dir_.Join("old.safetensors");
    WriteSource(source_path_, 1);
    WriteSource(old_path_, 2);
  }

  std::vector<std::string> ConvertCommand(const std::string& destination, bool force) {
    std::vector<std::string> command = {testing::SafeckptBinary(), "convert", source_path_, destination,
                                        "--max-shard-size", "5MB"};
    if (force) command.push_back("--force");
    return command;
  }

  TempDir dir_;
  std::string source_path_;
  std::string old_path_;
};

// Each trial kills one convert at a random moment between its start and a
// little after the time a whole convert takes here, so kills land in every
// phase: creating the directory, copying, fsync, renames, the index, the
// swap. The seed is fixed so a failure can be replayed.
TEST_F(KillTest, KilledConvertLeavesNoCompleteLookingCheckpoint) {
  constexpr int kTrialsPerMode = 12;
  auto source = Checkpoint::Open(source_path_);
  auto old_source = Checkpoint::Open(old_path_);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  ASSERT_TRUE(old_source.ok()) << old_source.status().ToString();

  double duration = TimeRun(ConvertCommand(dir_.Join("calibration"), false));
  std::cout << "one convert takes " << duration << " s\n";
  std::mt19937 random(20261204);
  std::uniform_real_distribution<double> delay(0.0, duration * 1.3);
  std::map<Outcome, int> outcomes;

  for (int trial = 0; trial < 2 * kTrialsPerMode; ++trial) {
    bool replace = trial % 2 == 1;
    std::string destination = dir_.Join("out-" + std::to_string(trial));
    std::unique_ptr<Checkpoint> old;
    if (replace) {
      ASSERT_TRUE(ConvertCheckpoint(*old_source, destination).ok());
      testing::WriteFileBytes(destination + "/config.json", "{}");
      old = std::make_unique<Checkpoint>(std::move(Checkpoint::Open(destination)).value());
    }

    double when = delay(random);
    bool killed = RunAndKill(ConvertCommand(destination, replace), when);
    std::string detail;
    Outcome outcome = Inspect(destination, *source, replace ? old.get() : nullptr, detail);
    ++outcomes[outcome];
    SCOPED_TRACE("trial " + std::to_string(trial) + (replace ? " (replacing)" : " (new)") +
                 ", killed after " + std::to_string(when) + " s" + (killed ? "" : " (had finished)"));

    EXPECT_NE(outcome, Outcome::kBroken) << detail;
    if (replace) {
      EXPECT_TRUE(outcome == Outcome::kOld || outcome == Outcome::kComplete)
          << "a replaced checkpoint is the old or the new one, never missing or incomplete";
      EXPECT_EQ(testing::ReadFileBytes(destination + "/config.json"), "{}");
    }
    if (!killed) {
      EXPECT_EQ(outcome, Outcome::kComplete) << "a convert that finished wrote the source";
    }
  }
  std::cout << "outcomes: absent " << outcomes[Outcome::kAbsent] << ", incomplete "
            << outcomes[Outcome::kIncomplete] << ", complete " << outcomes[Outcome::kComplete]
            << ", old kept " << outcomes[Outcome::kOld] << "\n";
}

TEST_F(KillTest, RerunAfterKillReplacesIncompleteCheckpoint) {
  std::string destination = dir_.Join("out");
  fs::create_directory(destination);
  testing::WriteFileBytes(destination + "/" + std::string(kIncompleteMarkerName), "");
  testing::WriteFileBytes(destination + "/model-00001-of-00004.safetensors.tmp-99999", "partial");

  testing::CommandResult refused = testing::RunCommand(
      ShellQuote(testing::SafeckptBinary()) + " convert " + ShellQuote(source_path_) + " " + ShellQuote(destination));
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("incomplete checkpoint"), std::string::npos) << refused.err;

  testing::CommandResult forced = testing::RunCommand(ShellQuote(testing::SafeckptBinary()) + " convert " +
                                                      ShellQuote(source_path_) + " " + ShellQuote(destination) +
                                                      " --force");
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_EQ(Entries(destination), std::vector<std::string>{"model.safetensors"})
      << "the marker and the temporary file of the killed run are gone";
}

// Lowers the file size limit for the rest of a test and ignores SIGXFSZ, so
// a write past the limit fails with EFBIG instead of killing the process.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(uint64_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    previous_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    EXPECT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    ::signal(SIGXFSZ, previous_handler_);
  }

 private:
  rlimit saved_{};
  sighandler_t previous_handler_ = SIG_DFL;
};

class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_path_ = dir_.Join("source.safetensors");
    WriteSource(source_path_, 1);
  }

  TempDir dir_;
  std::string source_path_;
};

TEST_F(DiskFullTest, FileSizeLimitFailsCleanly) {
  auto source = Checkpoint::Open(source_path_);
  ASSERT_TRUE(source.ok());
  std::string destination = dir_.Join("out");
  Result<ConvertReport> report = Status::Ok().WithContext("unset");
  {
    FileSizeLimit limit(3 << 20);
    ConvertOptions options;
    options.sharding.max_shard_bytes = 5'000'000;
    report = ConvertCheckpoint(*source, destination, options);
  }
  EXPECT_ERROR(report, ErrorId::kWriteFailed, "ulimit -f");
  EXPECT_NE(report.status().message().find("File too large"), std::string::npos) << report.status().message();
  EXPECT_FALSE(fs::exists(destination));
  EXPECT_EQ(Entries(dir_.path()), std::vector<std::string>{"source.safetensors"})
      << "no temporary file or directory is left";
}

TEST_F(DiskFullTest, FailureInMiddleOfCopyFailsCleanly) {
  std::vector<float> data(1 << 20, 0.5f);
  std::vector<internal::OutputTensor> tensors;
  for (int i = 0; i < 4; ++i) {
    internal::ByteSource source;
    source.memory = data.data();
    source.dtype = DType::kF32;
    tensors.push_back({"w" + std::to_string(i), DType::kF32, {data.size()}, source});
  }
  std::string destination = dir_.Join("out");
  Result<SaveSummary> summary = Status::Ok().WithContext("unset");
  {
    FileSizeLimit limit(6 << 20);
    SaveOptions options;
    options.sharding.max_shard_bytes = 9 << 20;
    internal::WriteTuning tuning;
    tuning.reserve_space = false;  // no fallocate: the limit strikes during a pwrite
    summary = internal::WriteCheckpoint(destination, tensors, options, tuning);
  }
  EXPECT_ERROR(summary, ErrorId::kWriteFailed, "cannot write tensor");
  EXPECT_NE(summary.status().message().find("File too large"), std::string::npos) << summary.status().message();
  EXPECT_FALSE(fs::exists(destination));
  EXPECT_EQ(Entries(dir_.path()), std::vector<std::string>{"source.safetensors"});
}

TEST_F(DiskFullTest, FailedReplaceKeepsOldCheckpoint) {
  auto source = Checkpoint::Open(source_path_);
  ASSERT_TRUE(source.ok());
  std::string destination = dir_.Join("out");
  float value = 1;
  ASSERT_TRUE(SaveCheckpoint(destination, {{"old", DType::kF32, {1}, &value}}).ok());
  std::string before = testing::ReadFileBytes(destination + "/model.safetensors");

  Result<ConvertReport> report = Status::Ok().WithContext("unset");
  {
    FileSizeLimit limit(1 << 20);
    ConvertOptions options;
    options.overwrite = true;
    report = ConvertCheckpoint(*source, destination, options);
  }
  EXPECT_ERROR(report, ErrorId::kWriteFailed, "File too large");
  EXPECT_EQ(testing::ReadFileBytes(destination + "/model.safetensors"), before);
  EXPECT_EQ(Entries(destination), std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ(Entries(dir_.path()), (std::vector<std::string>{"out", "source.safetensors"}))
      << "the staging directory is removed";
}

TEST_F(DiskFullTest, CommandReportsFileSizeLimit) {
  std::string destination = dir_.Join("out");
  testing::CommandResult result = testing::RunCommand(
      "ulimit -f 2048; exec " + ShellQuote(testing::SafeckptBinary()) + " convert " +
      ShellQuote(source_path_) + " " + ShellQuote(destination));
  EXPECT_EQ(result.exit_code, 4) << result.err;
  EXPECT_EQ(result.out, "");
  EXPECT_NE(result.err.find("safeckpt: error: "), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("File too large"), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(destination));
}

// A real full file system: a 4 MiB tmpfs mounted in a private mount
// namespace, which needs root or CAP_SYS_ADMIN; the test skips without.
TEST_F(DiskFullTest, FullTmpfsFailsCleanly) {
  std::string mount_point = dir_.Join("tmpfs");
  fs::create_directory(mount_point);
  std::string safeckpt = ShellQuote(testing::SafeckptBinary());
  std::string script =
      "mount -t tmpfs -o size=4m tmpfs " + ShellQuote(mount_point) + " || exit 99\n" +
      safeckpt + " convert " + ShellQuote(source_path_) + " " + ShellQuote(mount_point + "/out") +
      " 2>&1\n"
      "echo \"convert exit $?\"\n"
      "echo \"left: $(ls -A " + ShellQuote(mount_point) + ")\"\n" +
      safeckpt + " inspect " + ShellQuote(mount_point + "/out") + " >/dev/null 2>&1\n"
      "echo \"inspect exit $?\"\n";
  std::string script_path = dir_.Join("full.sh");
  testing::WriteFileBytes(script_path, script);
  testing::CommandResult result = testing::RunCommand("unshare --mount sh " + ShellQuote(script_path));
  if (result.exit_code != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): " << result.err << result.out;
  }
  EXPECT_NE(result.out.find("No space left on device"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("convert exit 4"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("left: \n"), std::string::npos) << "nothing is left on the full file system\n" << result.out;
  EXPECT_NE(result.out.find("inspect exit 3"), std::string::npos) << result.out;
}

}  // namespace
}  // namespace safeckpt
