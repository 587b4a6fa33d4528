#include "load/convert.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <type_traits>

namespace safeckpt::internal {
namespace {

// Little-endian loads and stores through memcpy, so no pointer into
// unaligned data is ever dereferenced as a wider type.

template <typename Bits>
Bits SwapBytes(Bits value) {
  if constexpr (sizeof(Bits) == 1) return value;
  if constexpr (sizeof(Bits) == 2) return static_cast<Bits>(__builtin_bswap16(value));
  if constexpr (sizeof(Bits) == 4) return static_cast<Bits>(__builtin_bswap32(value));
  if constexpr (sizeof(Bits) == 8) return static_cast<Bits>(__builtin_bswap64(value));
}

template <typename Bits>
Bits LoadLittleEndian(const std::byte* source) {
  Bits value;
  std::memcpy(&value, source, sizeof(Bits));
  if constexpr (std::endian::native == std::endian::big) value = SwapBytes(value);
  return value;
}

template <typename Bits>
void StoreLittleEndian(std::byte* destination, Bits value) {
  if constexpr (std::endian::native == std::endian::big) value = SwapBytes(value);
  std::memcpy(destination, &value, sizeof(Bits));
}

// Decoding. Every format below converts exactly to float (F64 to double).

// Decodes IEEE binary16 without branches, so loops over it vectorise.
// Infinities and NaN keep their mantissa bits (the NaN payload). A
// subnormal m * 2^-24 comes from the float 2^-14 + m * 2^-24, built by
// placing m under the exponent of 2^-14, minus 2^-14: both steps are exact.
inline float HalfToFloat(uint16_t half) {
  constexpr uint32_t kTwoToMinus14 = 113u << 23;
  const uint32_t widened = half;
  const uint32_t sign = (widened << 16) & 0x80000000u;
  const uint32_t shifted = (widened << 13) & 0x0fffe000u;
  const uint32_t exponent = shifted & 0x0f800000u;

  const uint32_t normal = shifted + ((127u - 15u) << 23);
  const uint32_t special = shifted | 0x7f800000u;
  const uint32_t subnormal = std::bit_cast<uint32_t>(
      std::bit_cast<float>(shifted + kTwoToMinus14) - std::bit_cast<float>(kTwoToMinus14));

  // Masks instead of conditionals, because GCC 12 at -O2 does not
  // if-convert this loop and would leave it scalar.
  const uint32_t special_mask = 0u - static_cast<uint32_t>(exponent == 0x0f800000u);
  const uint32_t subnormal_mask = 0u - static_cast<uint32_t>(exponent == 0);
  const uint32_t normal_mask = ~(special_mask | subnormal_mask);
  const uint32_t bits =
      (special & special_mask) | (subnormal & subnormal_mask) | (normal & normal_mask);
  return std::bit_cast<float>(sign | bits);
}

inline float BFloat16ToFloat(uint16_t bfloat16) {
  return std::bit_cast<float>(static_cast<uint32_t>(bfloat16) << 16);
}

// F8_E4M3 is the E4M3FN variant: bias 7, no infinities, and only S.1111.111
// is NaN, so the largest finite value is 448.
float DecodeE4M3(uint8_t bits) {
  const bool negative = (bits & 0x80u) != 0;
  const int exponent = (bits >> 3) & 0xf;
  const int mantissa = bits & 0x7;

  float magnitude = 0;
  if (exponent == 0xf && mantissa == 0x7) {
    magnitude = std::numeric_limits<float>::quiet_NaN();
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -9);
  } else {
    magnitude = std::ldexp(static_cast<float>(8 + mantissa), exponent - 10);
  }
  return negative ? -magnitude : magnitude;
}

const std::array<float, 256>& E4M3Table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> values{};
    for (int bits = 0; bits < 256; ++bits) values[bits] = DecodeE4M3(static_cast<uint8_t>(bits));
    return values;
  }();
  return table;
}

// Rounds `value` right by `shift` bits to nearest, ties to even.
inline uint64_t ShiftRightRoundingToEven(uint64_t value, int shift) {
  if (shift == 0) return value;
  // Callers pass values below 2^53, which are below half a unit here.
  if (shift >= 64) return 0;

  const uint64_t quotient = value >> shift;
  const uint64_t remainder = value & ((uint64_t{1} << shift) - 1);
  const uint64_t half = uint64_t{1} << (shift - 1);
  const bool round_up = remainder > half || (remainder == half && (quotient & 1) != 0);
  return quotient + (round_up ? 1 : 0);
}

// Rounds a binary64 value to an IEEE-style format with the given field
// widths (F32, F16, BF16), to nearest with ties to even, in integer
// arithmetic so the result does not depend on the floating-point rounding
// mode. Overflow gives infinity. NaN gives a quiet NaN with the same sign
// and the top bits of the payload.
template <int kExponentBits, int kMantissaBits>
uint64_t RoundDoubleToFormat(double value) {
  constexpr int kBias = (1 << (kExponentBits - 1)) - 1;
  constexpr int kDropBits = 52 - kMantissaBits;
  constexpr uint64_t kFractionMask = (uint64_t{1} << 52) - 1;
  constexpr uint64_t kInfinity = ((uint64_t{1} << kExponentBits) - 1) << kMantissaBits;

  const uint64_t bits = std::bit_cast<uint64_t>(value);
  const uint64_t sign = (bits >> 63) << (kExponentBits + kMantissaBits);
  const uint64_t magnitude = bits & ~(uint64_t{1} << 63);
  const uint64_t biased_exponent = magnitude >> 52;

  if (biased_exponent == 0x7ff) {
    const uint64_t fraction = magnitude & kFractionMask;
    if (fraction == 0) return sign | kInfinity;
    const uint64_t quiet_bit = uint64_t{1} << (kMantissaBits - 1);
    return sign | kInfinity | quiet_bit | (fraction >> kDropBits);
  }

  // value = significand * 2^(exponent - 52)
  uint64_t significand = magnitude & kFractionMask;
  int exponent = -1022;
  if (biased_exponent != 0) {
    significand |= uint64_t{1} << 52;
    exponent = static_cast<int>(biased_exponent) - 1023;
  }

  if (exponent >= 1 - kBias) {
    uint64_t rounded = ShiftRightRoundingToEven(significand, kDropBits);
    // Rounding up to the next power of two moves into the next binade.
    if ((rounded >> (kMantissaBits + 1)) != 0) {
      rounded >>= 1;
      ++exponent;
    }
    if (exponent > kBias) return sign | kInfinity;
    const uint64_t fraction = rounded & ((uint64_t{1} << kMantissaBits) - 1);
    return sign | (static_cast<uint64_t>(exponent + kBias) << kMantissaBits) | fraction;
  }

  // Subnormal in the target: count units of 2^(1 - bias - mantissa bits).
  // Rounding up to 2^kMantissaBits yields the smallest normal's encoding.
  const int shift = kDropBits + (1 - kBias - exponent);
  return sign | ShiftRightRoundingToEven(significand, shift);
}

// Rounds F32 to BF16, ties to even, by adding 0x7fff plus the lowest kept
// bit. Only NaN patterns are large enough to carry into the sign bit, and
// those take the NaN branch.
inline uint16_t FloatToBFloat16(uint32_t bits) {
  const uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (bits >> 16) | 0x0040u;
  const bool is_nan = (bits & 0x7fffffffu) > 0x7f800000u;
  return static_cast<uint16_t>(is_nan ? quiet_nan : rounded);
}

// Per-dtype bit layout and exact decoding. kDecodesToFloat is true when
// every value of the dtype is a float.
template <DType kDType>
struct FloatCodec;

template <>
struct FloatCodec<DType::kF64> {
  using Bits = uint64_t;
  static constexpr bool kDecodesToFloat = false;
  static double ToDouble(Bits bits) { return std::bit_cast<double>(bits); }
  static Bits FromDouble(double value) { return std::bit_cast<Bits>(value); }
};

template <>
struct FloatCodec<DType::kF32> {
  using Bits = uint32_t;
  static constexpr bool kDecodesToFloat = true;
  static float ToFloat(Bits bits) { return std::bit_cast<float>(bits); }
  static Bits FromDouble(double value) {
    return static_cast<Bits>(RoundDoubleToFormat<8, 23>(value));
  }
};

template <>
struct FloatCodec<DType::kF16> {
  using Bits = uint16_t;
  static constexpr bool kDecodesToFloat = true;
  static float ToFloat(Bits bits) { return HalfToFloat(bits); }
  static Bits FromDouble(double value) {
    return static_cast<Bits>(RoundDoubleToFormat<5, 10>(value));
  }
};

template <>
struct FloatCodec<DType::kBF16> {
  using Bits = uint16_t;
  static constexpr bool kDecodesToFloat = true;
  static float ToFloat(Bits bits) { return BFloat16ToFloat(bits); }
  static Bits FromDouble(double value) {
    return static_cast<Bits>(RoundDoubleToFormat<8, 7>(value));
  }
};

template <>
struct FloatCodec<DType::kF8_E4M3> {
  using Bits = uint8_t;
  static constexpr bool kDecodesToFloat = true;
  static float ToFloat(Bits bits) { return E4M3Table()[bits]; }
};

// F8_E5M2 is the upper byte of an IEEE binary16.
template <>
struct FloatCodec<DType::kF8_E5M2> {
  using Bits = uint8_t;
  static constexpr bool kDecodesToFloat = true;
  static float ToFloat(Bits bits) { return HalfToFloat(static_cast<uint16_t>(bits << 8)); }
};

// Converts one element. Widening to F32 or F64 is exact through float or
// double; every other target rounds once from the exact double value.
template <DType kFrom, DType kTo>
typename FloatCodec<kTo>::Bits ConvertFloatElement(typename FloatCodec<kFrom>::Bits bits) {
  using ToBits = typename FloatCodec<kTo>::Bits;
  if constexpr (kFrom == DType::kF32 && kTo == DType::kBF16) {
    return FloatToBFloat16(bits);
  } else if constexpr (kTo == DType::kF32 && FloatCodec<kFrom>::kDecodesToFloat) {
    return std::bit_cast<ToBits>(FloatCodec<kFrom>::ToFloat(bits));
  } else if constexpr (FloatCodec<kFrom>::kDecodesToFloat) {
    return FloatCodec<kTo>::FromDouble(static_cast<double>(FloatCodec<kFrom>::ToFloat(bits)));
  } else {
    return FloatCodec<kTo>::FromDouble(FloatCodec<kFrom>::ToDouble(bits));
  }
}

// Converts `count` elements one at a time. Called with a constant count
// from the blocked loop below, which lets GCC vectorise it at -O2.
template <DType kFrom, DType kTo>
inline void ConvertFloatRun(const std::byte* __restrict in, std::byte* __restrict out,
                            uint64_t count) {
  using FromBits = typename FloatCodec<kFrom>::Bits;
  using ToBits = typename FloatCodec<kTo>::Bits;
  for (uint64_t i = 0; i < count; ++i) {
    const FromBits bits = LoadLittleEndian<FromBits>(in + i * sizeof(FromBits));
    StoreLittleEndian<ToBits>(out + i * sizeof(ToBits), ConvertFloatElement<kFrom, kTo>(bits));
  }
}

// Elements per block of the vectorised loops. GCC's -O2 cost model only
// vectorises loops whose trip count is a known multiple of the vector width.
constexpr uint64_t kBlockElements = 64;

template <DType kFrom, DType kTo>
void ConvertFloats(const void* source, void* destination, uint64_t count) {
  using FromBits = typename FloatCodec<kFrom>::Bits;
  using ToBits = typename FloatCodec<kTo>::Bits;
  const auto* in = static_cast<const std::byte*>(source);
  auto* out = static_cast<std::byte*>(destination);

  const uint64_t blocked = count - count % kBlockElements;
  for (uint64_t i = 0; i < blocked; i += kBlockElements) {
    ConvertFloatRun<kFrom, kTo>(in + i * sizeof(FromBits), out + i * sizeof(ToBits),
                                kBlockElements);
  }
  ConvertFloatRun<kFrom, kTo>(in + blocked * sizeof(FromBits), out + blocked * sizeof(ToBits),
                              count - blocked);
}

template <typename From, typename To>
void WidenIntegers(const void* source, void* destination, uint64_t count) {
  using FromBits = std::make_unsigned_t<From>;
  using ToBits = std::make_unsigned_t<To>;
  const auto* __restrict in = static_cast<const std::byte*>(source);
  auto* __restrict out = static_cast<std::byte*>(destination);

  for (uint64_t i = 0; i < count; ++i) {
    const auto value = static_cast<From>(LoadLittleEndian<FromBits>(in + i * sizeof(From)));
    StoreLittleEndian<ToBits>(out + i * sizeof(To), static_cast<ToBits>(static_cast<To>(value)));
  }
}

template <uint32_t kBits>
void CopyElements(const void* source, void* destination, uint64_t count) {
  // memcpy needs valid pointers even for zero bytes, and empty tensors may
  // have null ones.
  if (count == 0) return;
  std::memcpy(destination, source, count * kBits / 8);
}

ConvertKernel IdentityKernel(DType dtype) {
  switch (DTypeBits(dtype)) {
    case 4: return &CopyElements<4>;
    case 6: return &CopyElements<6>;
    case 8: return &CopyElements<8>;
    case 16: return &CopyElements<16>;
    case 32: return &CopyElements<32>;
    case 64: return &CopyElements<64>;
    default: return nullptr;
  }
}

class KernelTable {
 public:
  KernelTable() {
    for (int i = 0; i < kDTypeCount; ++i) {
      const auto dtype = static_cast<DType>(i);
      Set(dtype, dtype, IdentityKernel(dtype));
    }
    AddFloatWidening();
    AddFloatNarrowing();
    AddIntegerWidening();
  }

  ConvertKernel Find(DType from, DType to) const { return kernels_[Index(from)][Index(to)]; }

 private:
  static size_t Index(DType dtype) { return static_cast<size_t>(dtype); }

  void Set(DType from, DType to, ConvertKernel kernel) { kernels_[Index(from)][Index(to)] = kernel; }

  template <DType kFrom, DType kTo>
  void AddFloat() {
    Set(kFrom, kTo, &ConvertFloats<kFrom, kTo>);
  }

  template <typename From, typename To>
  void AddInteger(DType from, DType to) {
    Set(from, to, &WidenIntegers<From, To>);
  }

  void AddFloatWidening() {
    AddFloat<DType::kF8_E4M3, DType::kF16>();
    AddFloat<DType::kF8_E4M3, DType::kBF16>();
    AddFloat<DType::kF8_E4M3, DType::kF32>();
    AddFloat<DType::kF8_E4M3, DType::kF64>();
    AddFloat<DType::kF8_E5M2, DType::kF16>();
    AddFloat<DType::kF8_E5M2, DType::kBF16>();
    AddFloat<DType::kF8_E5M2, DType::kF32>();
    AddFloat<DType::kF8_E5M2, DType::kF64>();
    AddFloat<DType::kF16, DType::kF32>();
    AddFloat<DType::kF16, DType::kF64>();
    AddFloat<DType::kBF16, DType::kF32>();
    AddFloat<DType::kBF16, DType::kF64>();
    AddFloat<DType::kF32, DType::kF64>();
  }

  void AddFloatNarrowing() {
    AddFloat<DType::kF64, DType::kF32>();
    AddFloat<DType::kF64, DType::kF16>();
    AddFloat<DType::kF64, DType::kBF16>();
    AddFloat<DType::kF32, DType::kF16>();
    AddFloat<DType::kF32, DType::kBF16>();
    AddFloat<DType::kF16, DType::kBF16>();
    AddFloat<DType::kBF16, DType::kF16>();
  }

  void AddIntegerWidening() {
    AddInteger<int8_t, int16_t>(DType::kI8, DType::kI16);
    AddInteger<int8_t, int32_t>(DType::kI8, DType::kI32);
    AddInteger<int8_t, int64_t>(DType::kI8, DType::kI64);
    AddInteger<int16_t, int32_t>(DType::kI16, DType::kI32);
    AddInteger<int16_t, int64_t>(DType::kI16, DType::kI64);
    AddInteger<int32_t, int64_t>(DType::kI32, DType::kI64);

    AddInteger<uint8_t, uint16_t>(DType::kU8, DType::kU16);
    AddInteger<uint8_t, uint32_t>(DType::kU8, DType::kU32);
    AddInteger<uint8_t, uint64_t>(DType::kU8, DType::kU64);
    AddInteger<uint8_t, int16_t>(DType::kU8, DType::kI16);
    AddInteger<uint8_t, int32_t>(DType::kU8, DType::kI32);
    AddInteger<uint8_t, int64_t>(DType::kU8, DType::kI64);
    AddInteger<uint16_t, uint32_t>(DType::kU16, DType::kU32);
    AddInteger<uint16_t, uint64_t>(DType::kU16, DType::kU64);
    AddInteger<uint16_t, int32_t>(DType::kU16, DType::kI32);
    AddInteger<uint16_t, int64_t>(DType::kU16, DType::kI64);
    AddInteger<uint32_t, uint64_t>(DType::kU32, DType::kU64);
    AddInteger<uint32_t, int64_t>(DType::kU32, DType::kI64);
  }

  std::array<std::array<ConvertKernel, kDTypeCount>, kDTypeCount> kernels_{};
};

const KernelTable& Kernels() {
  static const KernelTable table;
  return table;
}

std::string JoinDTypeNames(const std::vector<DType>& dtypes) {
  std::string names;
  for (DType dtype : dtypes) {
    if (!names.empty()) names += ", ";
    names += DTypeName(dtype);
  }
  return names;
}

}  // namespace

ConvertKernel FindConvertKernel(DType from, DType to) { return Kernels().Find(from, to); }

bool CanConvert(DType from, DType to) { return FindConvertKernel(from, to) != nullptr; }

std::vector<DType> ConversionTargets(DType from) {
  std::vector<DType> targets;
  for (int i = 0; i < kDTypeCount; ++i) {
    const auto to = static_cast<DType>(i);
    if (CanConvert(from, to)) targets.push_back(to);
  }
  return targets;
}

Status CheckConversion(DType from, DType to, std::string_view tensor) {
  if (CanConvert(from, to)) return Status::Ok();

  std::string message = "tensor '" + std::string(tensor) + "': cannot convert " +
                        std::string(DTypeName(from)) + " to " + std::string(DTypeName(to)) +
                        ". " + std::string(DTypeName(from)) + " converts only to " +
                        JoinDTypeNames(ConversionTargets(from)) +
                        ". Declare the tensor in one of those dtypes";
  return Unimplemented(ErrorId::kUnsupportedConversion, std::move(message));
}

}  // namespace safeckpt::internal
