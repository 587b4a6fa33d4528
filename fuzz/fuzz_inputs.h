// The code each fuzz target runs on one input.
//
// Each function returns the parser's or the checkpoint's error for a bad
// input, which is expected, and Ok for a good one. A broken invariant
// (a parser accepting what it must reject, a round trip that fails, loaded
// bytes that differ from the file) is a bug: the function prints it to
// stderr and calls abort(), which libFuzzer reports as a crash.
//
// tests/fuzz_regression_test.cc replays reduced crash inputs through these
// functions, so a fix is checked by the same calls that found the bug.
#pragma once

#include <string>
#include <string_view>

#include "safeckpt/status.h"

namespace safeckpt::fuzz {

// ParseSafetensorsHeader on `bytes` as a whole file (file_size is the input
// size), then checks the accepted header against the format's rules.
Status RunHeaderInput(std::string_view bytes);

// ParseCheckpointIndex on `text`.
Status RunIndexInput(std::string_view text);

// ParseManifest on `text`; an accepted manifest must format and parse again
// to the same tensors.
Status RunManifestInput(std::string_view text);

// Writes the checkpoint framed in `input` (checkpoint_framing.h) into
// `directory`, replacing the files of the previous input, then opens it and
// runs what `safeckpt check` runs with the checkpoint's own manifest:
// reconcile and format the text and JSON reports. When the options byte sets
// kLoadData, it also loads tensors of at most kMaxLoadBytes in total into
// memory.
//
// `directory` must exist and be used by one thread only; it should be on a
// tmpfs (/dev/shm) for speed.
Status RunCheckpointInput(std::string_view input, const std::string& directory);

// The maximum tensor bytes RunCheckpointInput loads into memory. Larger
// checkpoints are only checked.
inline constexpr uint64_t kMaxLoadBytes = 1 << 20;

}  // namespace safeckpt::fuzz
