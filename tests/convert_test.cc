#include "load/convert.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "support/test_support.h"

namespace safeckpt::internal {
namespace {

// Reference decoders written from the format definitions with ldexp,
// independent of the kernels under test.

// Decodes an IEEE-style format with an all-ones exponent for inf and NaN.
double DecodeIeee(uint64_t bits, int exponent_bits, int mantissa_bits) {
  const bool negative = ((bits >> (exponent_bits + mantissa_bits)) & 1) != 0;
  const int64_t exponent = static_cast<int64_t>((bits >> mantissa_bits) & ((1u << exponent_bits) - 1));
  const uint64_t mantissa = bits & ((uint64_t{1} << mantissa_bits) - 1);
  const int64_t bias = (int64_t{1} << (exponent_bits - 1)) - 1;
  const int64_t all_ones = (int64_t{1} << exponent_bits) - 1;

  double magnitude = 0;
  if (exponent == all_ones) {
    magnitude = mantissa == 0 ? std::numeric_limits<double>::infinity()
                              : std::numeric_limits<double>::quiet_NaN();
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<double>(mantissa), static_cast<int>(1 - bias - mantissa_bits));
  } else {
    const double significand = static_cast<double>(mantissa | (uint64_t{1} << mantissa_bits));
    magnitude = std::ldexp(significand, static_cast<int>(exponent - bias - mantissa_bits));
  }
  return negative ? -magnitude : magnitude;
}

// E4M3FN: bias 7, no infinities, S.1111.111 is NaN.
double DecodeE4M3Reference(uint8_t bits) {
  const bool negative = (bits & 0x80) != 0;
  const int exponent = (bits >> 3) & 0xf;
  const int mantissa = bits & 0x7;
  double magnitude = 0;
  if (exponent == 15 && mantissa == 7) {
    magnitude = std::numeric_limits<double>::quiet_NaN();
  } else if (exponent == 0) {
    magnitude = mantissa / 8.0 * std::ldexp(1.0, -6);
  } else {
    magnitude = (1 + mantissa / 8.0) * std::ldexp(1.0, exponent - 7);
  }
  return negative ? -magnitude : magnitude;
}

template <typename To, typename From>
std::vector<To> Convert(DType from, DType to, const std::vector<From>& values) {
  ConvertKernel kernel = FindConvertKernel(from, to);
  EXPECT_NE(kernel, nullptr) << DTypeName(from) << " -> " << DTypeName(to);
  std::vector<To> converted(values.size());
  if (kernel != nullptr) kernel(values.data(), converted.data(), values.size());
  return converted;
}

template <typename From>
float ToFloat(DType from, From bits) {
  return Convert<float>(from, DType::kF32, std::vector<From>{bits})[0];
}

template <typename To>
To FromFloat(DType to, float value) {
  return Convert<To>(DType::kF32, to, std::vector<float>{value})[0];
}

uint16_t FloatBitsToBF16(uint32_t bits) {
  return Convert<uint16_t>(DType::kF32, DType::kBF16, std::vector<uint32_t>{bits})[0];
}

uint16_t FloatBitsToF16(uint32_t bits) {
  return Convert<uint16_t>(DType::kF32, DType::kF16, std::vector<uint32_t>{bits})[0];
}

// Checks that `actual` is `expected` exactly: same value, same sign of
// zero, NaN where NaN is expected.
void ExpectSameValue(double expected, double actual, uint64_t source_bits) {
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(actual)) << "source bits 0x" << std::hex << source_bits;
    EXPECT_EQ(std::signbit(expected), std::signbit(actual)) << "source bits 0x" << std::hex << source_bits;
    return;
  }
  EXPECT_EQ(expected, actual) << "source bits 0x" << std::hex << source_bits;
  EXPECT_EQ(std::signbit(expected), std::signbit(actual)) << "source bits 0x" << std::hex << source_bits;
}

std::vector<uint16_t> All16BitPatterns() {
  std::vector<uint16_t> patterns(65536);
  for (uint32_t i = 0; i < 65536; ++i) patterns[i] = static_cast<uint16_t>(i);
  return patterns;
}

std::vector<uint8_t> All8BitPatterns() {
  std::vector<uint8_t> patterns(256);
  for (uint32_t i = 0; i < 256; ++i) patterns[i] = static_cast<uint8_t>(i);
  return patterns;
}

TEST(ConvertTest, BF16ToF32KnownValues) {
  EXPECT_EQ(ToFloat<uint16_t>(DType::kBF16, 0x3f80), 1.0f);
  EXPECT_EQ(ToFloat<uint16_t>(DType::kBF16, 0xc040), -3.0f);
  EXPECT_EQ(ToFloat<uint16_t>(DType::kBF16, 0x0001), std::ldexp(1.0f, -133));
  EXPECT_EQ(ToFloat<uint16_t>(DType::kBF16, 0x7f7f), std::ldexp(255.0f, 120));
  EXPECT_EQ(ToFloat<uint16_t>(DType::kBF16, 0x7f80), std::numeric_limits<float>::infinity());
  EXPECT_EQ(ToFloat<uint16_t>(DType::kBF16, 0xff80), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(ToFloat<uint16_t>(DType::kBF16, 0x7fc0)));
  EXPECT_TRUE(std::signbit(ToFloat<uint16_t>(DType::kBF16, 0x8000)));
  EXPECT_EQ(ToFloat<uint16_t>(DType::kBF16, 0x8000), 0.0f);
}

TEST(ConvertTest, F16ToF32KnownValues) {
  EXPECT_EQ(ToFloat<uint16_t>(DType::kF16, 0x3c00), 1.0f);
  EXPECT_EQ(ToFloat<uint16_t>(DType::kF16, 0xc000), -2.0f);
  EXPECT_EQ(ToFloat<uint16_t>(DType::kF16, 0x7bff), 65504.0f);
  EXPECT_EQ(ToFloat<uint16_t>(DType::kF16, 0x0400), std::ldexp(1.0f, -14));
  EXPECT_EQ(ToFloat<uint16_t>(DType::kF16, 0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(ToFloat<uint16_t>(DType::kF16, 0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(ToFloat<uint16_t>(DType::kF16, 0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(ToFloat<uint16_t>(DType::kF16, 0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(ToFloat<uint16_t>(DType::kF16, 0x7e00)));
  EXPECT_TRUE(std::isnan(ToFloat<uint16_t>(DType::kF16, 0x7c01)));
  EXPECT_TRUE(std::signbit(ToFloat<uint16_t>(DType::kF16, 0x8000)));
  EXPECT_EQ(ToFloat<uint16_t>(DType::kF16, 0x8000), 0.0f);
}

TEST(ConvertTest, F8E4M3ToF32KnownValues) {
  EXPECT_EQ(ToFloat<uint8_t>(DType::kF8_E4M3, 0x38), 1.0f);
  EXPECT_EQ(ToFloat<uint8_t>(DType::kF8_E4M3, 0x7e), 448.0f);
  EXPECT_EQ(ToFloat<uint8_t>(DType::kF8_E4M3, 0xfe), -448.0f);
  EXPECT_EQ(ToFloat<uint8_t>(DType::kF8_E4M3, 0x78), 256.0f);  // exponent all ones is finite
  EXPECT_EQ(ToFloat<uint8_t>(DType::kF8_E4M3, 0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(ToFloat<uint8_t>(DType::kF8_E4M3, 0x07), std::ldexp(7.0f, -9));
  EXPECT_EQ(ToFloat<uint8_t>(DType::kF8_E4M3, 0x08), std::ldexp(1.0f, -6));
  EXPECT_TRUE(std::isnan(ToFloat<uint8_t>(DType::kF8_E4M3, 0x7f)));
  EXPECT_TRUE(std::isnan(ToFloat<uint8_t>(DType::kF8_E4M3, 0xff)));
  EXPECT_TRUE(std::signbit(ToFloat<uint8_t>(DType::kF8_E4M3, 0x80)));
  EXPECT_EQ(ToFloat<uint8_t>(DType::kF8_E4M3, 0x80), 0.0f);
}

TEST(ConvertTest, F8E5M2ToF32KnownValues) {
  EXPECT_EQ(ToFloat<uint8_t>(DType::kF8_E5M2, 0x3c), 1.0f);
  EXPECT_EQ(ToFloat<uint8_t>(DType::kF8_E5M2, 0x7b), 57344.0f);
  EXPECT_EQ(ToFloat<uint8_t>(DType::kF8_E5M2, 0x01), std::ldexp(1.0f, -16));
  EXPECT_EQ(ToFloat<uint8_t>(DType::kF8_E5M2, 0x7c), std::numeric_limits<float>::infinity());
  EXPECT_EQ(ToFloat<uint8_t>(DType::kF8_E5M2, 0xfc), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(ToFloat<uint8_t>(DType::kF8_E5M2, 0x7d)));
  EXPECT_TRUE(std::isnan(ToFloat<uint8_t>(DType::kF8_E5M2, 0x7f)));
  EXPECT_TRUE(std::signbit(ToFloat<uint8_t>(DType::kF8_E5M2, 0x80)));
}

TEST(ConvertTest, EveryBF16ValueWidensExactly) {
  const std::vector<uint16_t> patterns = All16BitPatterns();
  const std::vector<float> as_float = Convert<float>(DType::kBF16, DType::kF32, patterns);
  const std::vector<double> as_double = Convert<double>(DType::kBF16, DType::kF64, patterns);
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const double expected = DecodeIeee(bits, 8, 7);
    ExpectSameValue(expected, as_float[bits], bits);
    ExpectSameValue(expected, as_double[bits], bits);
  }
}

TEST(ConvertTest, EveryF16ValueWidensExactly) {
  const std::vector<uint16_t> patterns = All16BitPatterns();
  const std::vector<float> as_float = Convert<float>(DType::kF16, DType::kF32, patterns);
  const std::vector<double> as_double = Convert<double>(DType::kF16, DType::kF64, patterns);
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const double expected = DecodeIeee(bits, 5, 10);
    ExpectSameValue(expected, as_float[bits], bits);
    ExpectSameValue(expected, as_double[bits], bits);
  }
}

TEST(ConvertTest, F16NaNPayloadSurvivesWidening) {
  const float widened = ToFloat<uint16_t>(DType::kF16, 0x7e01);
  EXPECT_EQ(std::bit_cast<uint32_t>(widened), 0x7fc02000u);
}

TEST(ConvertTest, EveryF8ValueWidensExactlyToEveryWiderFloat) {
  const std::vector<uint8_t> patterns = All8BitPatterns();
  for (DType from : {DType::kF8_E4M3, DType::kF8_E5M2}) {
    const std::vector<float> as_float = Convert<float>(from, DType::kF32, patterns);
    const std::vector<double> as_double = Convert<double>(from, DType::kF64, patterns);
    const std::vector<uint16_t> as_half = Convert<uint16_t>(from, DType::kF16, patterns);
    const std::vector<uint16_t> as_bfloat16 = Convert<uint16_t>(from, DType::kBF16, patterns);
    for (uint32_t bits = 0; bits < 256; ++bits) {
      SCOPED_TRACE(DTypeName(from));
      const double expected = from == DType::kF8_E4M3
                                  ? DecodeE4M3Reference(static_cast<uint8_t>(bits))
                                  : DecodeIeee(bits, 5, 2);
      ExpectSameValue(expected, as_float[bits], bits);
      ExpectSameValue(expected, as_double[bits], bits);
      ExpectSameValue(expected, DecodeIeee(as_half[bits], 5, 10), bits);
      ExpectSameValue(expected, DecodeIeee(as_bfloat16[bits], 8, 7), bits);
    }
  }
}

TEST(ConvertTest, F32ToBF16RoundsTiesToEven) {
  EXPECT_EQ(FloatBitsToBF16(0x3f808000u), 0x3f80);  // 1 + 2^-8: tie, down to even
  EXPECT_EQ(FloatBitsToBF16(0x3f818000u), 0x3f82);  // tie, up to even
  EXPECT_EQ(FloatBitsToBF16(0x3f808001u), 0x3f81);  // above the tie
  EXPECT_EQ(FloatBitsToBF16(0x3f807fffu), 0x3f80);  // below the tie
  EXPECT_EQ(FloatBitsToBF16(0xbf818000u), 0xbf82);  // negative tie
}

TEST(ConvertTest, F32ToBF16OverflowsToInfinity) {
  EXPECT_EQ(FloatBitsToBF16(0x7f7fffffu), 0x7f80);  // FLT_MAX rounds past the largest BF16
  EXPECT_EQ(FloatBitsToBF16(0xff7fffffu), 0xff80);
  EXPECT_EQ(FloatBitsToBF16(0x7f7f7fffu), 0x7f7f);  // just below the tie stays finite
}

TEST(ConvertTest, F32ToBF16KeepsNaNQuiet) {
  const uint16_t from_signalling = FloatBitsToBF16(0x7f800001u);
  EXPECT_EQ(from_signalling & 0x7fc0, 0x7fc0);
  const uint16_t negative = FloatBitsToBF16(0xffc00000u);
  EXPECT_EQ(negative, 0xffc0);
}

TEST(ConvertTest, F32ToBF16KeepsInfinitiesAndSignedZeros) {
  EXPECT_EQ(FloatBitsToBF16(0x7f800000u), 0x7f80);
  EXPECT_EQ(FloatBitsToBF16(0xff800000u), 0xff80);
  EXPECT_EQ(FloatBitsToBF16(0x80000000u), 0x8000);
  EXPECT_EQ(FloatBitsToBF16(0x00000000u), 0x0000);
}

TEST(ConvertTest, F32ToF16RoundsTiesToEven) {
  EXPECT_EQ(FromFloat<uint16_t>(DType::kF16, 1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(FromFloat<uint16_t>(DType::kF16, 1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(FromFloat<uint16_t>(DType::kF16, 1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)),
            0x3c01);
}

TEST(ConvertTest, F32ToF16RoundsSubnormals) {
  EXPECT_EQ(FromFloat<uint16_t>(DType::kF16, std::ldexp(1.0f, -25)), 0x0000);  // tie to even zero
  EXPECT_EQ(FromFloat<uint16_t>(DType::kF16, std::ldexp(3.0f, -25)), 0x0002);  // tie up to even
  EXPECT_EQ(FromFloat<uint16_t>(DType::kF16, std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(FromFloat<uint16_t>(DType::kF16, -std::ldexp(1.0f, -24)), 0x8001);
  EXPECT_EQ(FromFloat<uint16_t>(DType::kF16, std::ldexp(2047.0f, -25)), 0x0400);  // carries into normal
  EXPECT_EQ(FromFloat<uint16_t>(DType::kF16, std::ldexp(1.0f, -30)), 0x0000);
}

TEST(ConvertTest, F32ToF16OverflowsToInfinity) {
  EXPECT_EQ(FromFloat<uint16_t>(DType::kF16, 65519.0f), 0x7bff);
  EXPECT_EQ(FromFloat<uint16_t>(DType::kF16, 65520.0f), 0x7c00);  // tie with odd 65504 rounds up
  EXPECT_EQ(FromFloat<uint16_t>(DType::kF16, -1e10f), 0xfc00);
  EXPECT_EQ(FromFloat<uint16_t>(DType::kF16, std::numeric_limits<float>::infinity()), 0x7c00);
}

TEST(ConvertTest, F32ToF16KeepsNaNQuietAndZeroSign) {
  const uint16_t nan = FloatBitsToF16(0x7f800001u);
  EXPECT_EQ(nan & 0x7e00, 0x7e00);
  EXPECT_EQ(FloatBitsToF16(0xffc00000u) & 0xfe00, 0xfe00);
  EXPECT_EQ(FromFloat<uint16_t>(DType::kF16, -0.0f), 0x8000);
}

TEST(ConvertTest, EveryF16AndBF16ValueRoundTripsThroughF32) {
  const std::vector<uint16_t> patterns = All16BitPatterns();
  for (DType dtype : {DType::kF16, DType::kBF16}) {
    SCOPED_TRACE(DTypeName(dtype));
    const std::vector<float> widened = Convert<float>(dtype, DType::kF32, patterns);
    const std::vector<uint16_t> narrowed = Convert<uint16_t>(DType::kF32, dtype, widened);
    for (uint32_t bits = 0; bits < 65536; ++bits) {
      if (std::isnan(widened[bits])) continue;
      EXPECT_EQ(narrowed[bits], bits);
    }
  }
}

TEST(ConvertTest, F64ToF32MatchesHardwareRounding) {
  std::mt19937_64 random(20240613);
  std::vector<double> values;
  for (int i = 0; i < 100000; ++i) {
    // Exponents near F32's normal and subnormal range, random mantissas.
    const uint64_t mantissa = random() & ((uint64_t{1} << 52) - 1);
    const uint64_t exponent = 1023 - 160 + random() % 300;
    values.push_back(std::bit_cast<double>((exponent << 52) | mantissa | (random() & (uint64_t{1} << 63))));
  }
  const std::vector<float> converted = Convert<float>(DType::kF64, DType::kF32, values);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(std::bit_cast<uint32_t>(converted[i]), std::bit_cast<uint32_t>(static_cast<float>(values[i])))
        << values[i];
  }
}

TEST(ConvertTest, F64ToBF16RoundsOnce) {
  // 1 + 2^-8 + 2^-40 rounds to the F32 tie 1 + 2^-8 first; rounding twice
  // would then give 1.0, while the nearest BF16 is 1 + 2^-7.
  const double value = 1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40);
  const uint16_t converted = Convert<uint16_t>(DType::kF64, DType::kBF16, std::vector<double>{value})[0];
  EXPECT_EQ(converted, 0x3f81);
}

TEST(ConvertTest, F64ToF16RoundsOnce) {
  const double value = 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40);
  const uint16_t converted = Convert<uint16_t>(DType::kF64, DType::kF16, std::vector<double>{value})[0];
  EXPECT_EQ(converted, 0x3c01);
}

TEST(ConvertTest, F64ToF32OverflowsAndKeepsNaN) {
  const std::vector<double> values = {1e300, -1e300, std::numeric_limits<double>::quiet_NaN(), 1e-300,
                                      -1e-300};
  const std::vector<float> converted = Convert<float>(DType::kF64, DType::kF32, values);
  EXPECT_EQ(converted[0], std::numeric_limits<float>::infinity());
  EXPECT_EQ(converted[1], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(converted[2]));
  EXPECT_EQ(converted[3], 0.0f);
  EXPECT_TRUE(std::signbit(converted[4]));
}

TEST(ConvertTest, F16ToBF16Rounds) {
  // 1 + 2^-10 (F16 0x3c01) lies between BF16 1.0 and 1 + 2^-7, nearer 1.0.
  const std::vector<uint16_t> values = {0x3c01, 0x7bff, 0x0001, 0x7c00};
  const std::vector<uint16_t> converted = Convert<uint16_t>(DType::kF16, DType::kBF16, values);
  EXPECT_EQ(converted[0], 0x3f80);
  EXPECT_EQ(converted[1], 0x4780);  // 65504 rounds up to 65536
  EXPECT_EQ(converted[2], 0x3380);  // 2^-24 is a BF16 normal
  EXPECT_EQ(converted[3], 0x7f80);
}

TEST(ConvertTest, BF16ToF16OverflowsToInfinity) {
  const std::vector<uint16_t> values = {0x4780, 0x3f80, 0x0001};  // 65536, 1.0, 2^-133
  const std::vector<uint16_t> converted = Convert<uint16_t>(DType::kBF16, DType::kF16, values);
  EXPECT_EQ(converted[0], 0x7c00);
  EXPECT_EQ(converted[1], 0x3c00);
  EXPECT_EQ(converted[2], 0x0000);
}

TEST(ConvertTest, SignedIntegersWidenWithSign) {
  const std::vector<int8_t> bytes = {-128, -1, 0, 127};
  EXPECT_EQ(Convert<int16_t>(DType::kI8, DType::kI16, bytes), (std::vector<int16_t>{-128, -1, 0, 127}));
  EXPECT_EQ(Convert<int64_t>(DType::kI8, DType::kI64, bytes), (std::vector<int64_t>{-128, -1, 0, 127}));

  const std::vector<int32_t> words = {std::numeric_limits<int32_t>::min(), -5};
  EXPECT_EQ(Convert<int64_t>(DType::kI32, DType::kI64, words),
            (std::vector<int64_t>{std::numeric_limits<int32_t>::min(), -5}));

  const std::vector<int16_t> halves = {-32768, 300};
  EXPECT_EQ(Convert<int32_t>(DType::kI16, DType::kI32, halves), (std::vector<int32_t>{-32768, 300}));
}

TEST(ConvertTest, UnsignedIntegersWidenWithoutSign) {
  const std::vector<uint8_t> bytes = {0, 200, 255};
  EXPECT_EQ(Convert<int16_t>(DType::kU8, DType::kI16, bytes), (std::vector<int16_t>{0, 200, 255}));
  EXPECT_EQ(Convert<uint64_t>(DType::kU8, DType::kU64, bytes), (std::vector<uint64_t>{0, 200, 255}));

  const std::vector<uint32_t> words = {0xffffffffu, 7};
  EXPECT_EQ(Convert<int64_t>(DType::kU32, DType::kI64, words), (std::vector<int64_t>{4294967295LL, 7}));

  const std::vector<uint16_t> halves = {65535};
  EXPECT_EQ(Convert<uint32_t>(DType::kU16, DType::kU32, halves), (std::vector<uint32_t>{65535}));
}

TEST(ConvertTest, UnalignedSourceAndDestination) {
  // BF16 values 1.0, -2.0, 0.5 and 3.0 at an odd address, written to an odd
  // address; more than one block so the vectorised path runs too.
  const uint16_t pattern[4] = {0x3f80, 0xc000, 0x3f00, 0x4040};
  const float expected[4] = {1.0f, -2.0f, 0.5f, 3.0f};
  const size_t count = 203;
  std::vector<unsigned char> source(count * 2 + 1);
  for (size_t i = 0; i < count; ++i) {
    const uint16_t bits = pattern[i % 4];
    source[1 + 2 * i] = static_cast<unsigned char>(bits & 0xff);
    source[2 + 2 * i] = static_cast<unsigned char>(bits >> 8);
  }
  std::vector<unsigned char> destination(count * 4 + 3);

  FindConvertKernel(DType::kBF16, DType::kF32)(source.data() + 1, destination.data() + 3, count);

  for (size_t i = 0; i < count; ++i) {
    float value = 0;
    std::memcpy(&value, destination.data() + 3 + 4 * i, sizeof value);
    EXPECT_EQ(value, expected[i % 4]) << "element " << i;
  }
}

TEST(ConvertTest, IdentityCopiesEveryDType) {
  for (int i = 0; i < kDTypeCount; ++i) {
    const auto dtype = static_cast<DType>(i);
    EXPECT_TRUE(CanConvert(dtype, dtype)) << DTypeName(dtype);
  }
  const std::vector<uint8_t> packed = {0x12, 0x34, 0x56};  // six F4 elements
  std::vector<uint8_t> copy(3);
  FindConvertKernel(DType::kF4, DType::kF4)(packed.data(), copy.data(), 6);
  EXPECT_EQ(copy, packed);
}

TEST(ConvertTest, UnsupportedPairsRejected) {
  EXPECT_FALSE(CanConvert(DType::kF32, DType::kI32));
  EXPECT_FALSE(CanConvert(DType::kI32, DType::kF32));
  EXPECT_FALSE(CanConvert(DType::kF32, DType::kF8_E4M3));
  EXPECT_FALSE(CanConvert(DType::kF8_E4M3, DType::kF8_E5M2));
  EXPECT_FALSE(CanConvert(DType::kI32, DType::kI16));
  EXPECT_FALSE(CanConvert(DType::kI8, DType::kU16));
  EXPECT_FALSE(CanConvert(DType::kU64, DType::kI64));
  EXPECT_FALSE(CanConvert(DType::kBool, DType::kU8));
  EXPECT_FALSE(CanConvert(DType::kF8_E4M3FNUZ, DType::kF32));
  EXPECT_EQ(FindConvertKernel(DType::kC64, DType::kF64), nullptr);
}

TEST(ConvertTest, ConversionTargetsOfF8E4M3) {
  const std::vector<DType> expected = {DType::kF16, DType::kBF16, DType::kF32, DType::kF64,
                                       DType::kF8_E4M3};
  EXPECT_EQ(ConversionTargets(DType::kF8_E4M3), expected);
}

TEST(ConvertTest, UnsupportedConversionMessageListsTargets) {
  const Result<bool> status = CheckConversion(DType::kI32, DType::kF32, "model.step");
  EXPECT_ERROR(status, ErrorId::kUnsupportedConversion, "tensor 'model.step'");
  EXPECT_ERROR(status, ErrorId::kUnsupportedConversion, "cannot convert I32 to F32");
  EXPECT_ERROR(status, ErrorId::kUnsupportedConversion, "I32 converts only to I32, I64");
  EXPECT_EQ(status.status().code(), StatusCode::kUnimplemented);
}

TEST(ConvertTest, SupportedConversionPasses) {
  EXPECT_TRUE(CheckConversion(DType::kBF16, DType::kF32, "w").ok());
}

}  // namespace
}  // namespace safeckpt::internal
