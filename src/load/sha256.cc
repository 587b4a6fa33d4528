#include "load/sha256.h"

#include <openssl/evp.h>

#include <memory>

namespace safeckpt::internal {
namespace {

struct DigestContextDeleter {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

std::string ToHex(const unsigned char* bytes, unsigned int length) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kDigits[bytes[i] >> 4];
    hex += kDigits[bytes[i] & 0xf];
  }
  return hex;
}

Status OpenSslFailure(const char* step) {
  return Status(StatusCode::kInvalidArgument, ErrorId::kInternal,
                std::string("SHA-256: OpenSSL ") + step + " failed");
}

}  // namespace

Result<std::string> Sha256Hex(const void* data, uint64_t length) {
  std::unique_ptr<EVP_MD_CTX, DigestContextDeleter> context(EVP_MD_CTX_new());
  if (!context) return OpenSslFailure("EVP_MD_CTX_new");
  if (EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
    return OpenSslFailure("EVP_DigestInit_ex");
  }

  // Feed at most 1 GiB per call so sizes stay far from any size_t limit.
  const auto* bytes = static_cast<const unsigned char*>(data);
  while (length > 0) {
    const uint64_t chunk = length < (uint64_t{1} << 30) ? length : (uint64_t{1} << 30);
    if (EVP_DigestUpdate(context.get(), bytes, static_cast<size_t>(chunk)) != 1) {
      return OpenSslFailure("EVP_DigestUpdate");
    }
    bytes += chunk;
    length -= chunk;
  }

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  if (EVP_DigestFinal_ex(context.get(), digest, &digest_length) != 1) {
    return OpenSslFailure("EVP_DigestFinal_ex");
  }
  return ToHex(digest, digest_length);
}

}  // namespace safeckpt::internal
