// Layout adapters: how a model's native tensors are made of a Hugging Face
// checkpoint's tensors.
//
// A native tensor is filled by pieces of checkpoint tensors, each copied as
// it is, transposed, de-interleaved or dequantized into a box of the native
// tensor. So experts stack into one [experts, ...] tensor without an
// intermediate copy, and a rank reads only the pieces its slice covers. The
// mixture-of-experts layout is the same for every family:
//   PREFIX.experts.gate_and_up_projs [E, H, 2I]  gate, then up, each transposed
//                                                 from [I, H] ([E, H, I] without gate)
//   PREFIX.experts.down_projs        [E, I, H]   transposed from [H, I]
// Pass an adapter's name as LoadOptions::adapter (loader.h).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "safeckpt/dtype.h"
#include "safeckpt/hyperslab.h"
#include "safeckpt/status.h"

namespace safeckpt {

struct AdapterInfo {
  std::string name;                      // e.g. "mixtral"
  std::vector<std::string> model_types;  // config.json "model_type" values it serves
  std::string description;
};

// Every built-in adapter: mixtral, qwen_moe, deepseek_v3, nemotron_h,
// qwen3_5_moe, granitemoe, gpt_oss.
std::vector<AdapterInfo> Adapters();

// The adapter serving a config.json "model_type", or an empty string.
std::string AdapterForModelType(std::string_view model_type);

// Turns the --adapter option into an adapter name. "none" or "" gives "".
// "auto" gives the adapter for the "model_type" of config.json in the
// checkpoint directory (beside a single .safetensors file), or "" when there
// is no config.json or no adapter serves its model type. Any other value
// must name an adapter. Fails with kAdapterInvalid for an unknown name
// and with kManifestInvalid for a config.json that is not a JSON object.
Result<std::string> ResolveAdapter(std::string_view option, const std::string& checkpoint_path);

// A native tensor, or one rank's slice of it, in memory: the input of the
// save direction.
struct NativeTensorData {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;                     // global shape
  std::optional<Hyperslab> slice;  // the part `data` holds; unset for the whole tensor
  const void* data = nullptr;      // row-major, ByteSize(dtype, slice shape) bytes, not owned
};

// A Hugging Face tensor assembled from native tensors; owns its bytes.
struct HfTensorData {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  std::vector<std::byte> bytes;
};

struct HfConversion {
  // Tensors every element of which some given slice holds, sorted by name,
  // in the dtype of the native tensor they come from.
  std::vector<HfTensorData> tensors;
  // Tensors only partly held by the given slices (another rank has the
  // rest), and bookkeeping entries (last component _extra_state), which a
  // Hugging Face checkpoint never has. Both sorted.
  std::vector<std::string> incomplete;
  std::vector<std::string> excluded;
};

// Runs adapter `adapter` in reverse: native tensors, whole or as slices
// (several slices of one tensor may be given, from several ranks), become
// Hugging Face tensors, ready for the writer (writer.h). Stacked experts are
// split per expert or regrouped, transposed and interleaved back, and names
// renamed back. Slices of one tensor must be identical or disjoint.
//
// Dequantized tensors are written in their native dtype under the weight's
// name: there is no quantization back to FP8 or MXFP4.
//
// Fails with kAdapterInvalid for an unknown adapter, with kSliceInvalid for
// a slice that does not fit its shape or a name given with two shapes or
// dtypes, and with kDestinationInvalid for null data.
Result<HfConversion> ConvertToHuggingFace(std::string_view adapter,
                                          const std::vector<NativeTensorData>& natives);

}  // namespace safeckpt
