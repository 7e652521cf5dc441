// Base64Url: the unpadded base64url of JOSE (RFC 7515 section 2), decoded strictly: a character
// outside the alphabet, padding, or leftover bits that are not zero make the input invalid.
// Never allocates beyond the output it is given to fill.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace parley::auth {

// The decoded size of `length` base64url characters (an upper bound for invalid input).
constexpr std::size_t base64UrlDecodedSize(std::size_t length) { return length * 3 / 4; }

// Appends the bytes of `in` to `out`; false (and `out` unspecified) when `in` is not strict
// unpadded base64url. `out`'s capacity is reused: a thread_local buffer allocates once.
bool decodeBase64Url(std::string_view in, std::string& out);

}  // namespace parley::auth
