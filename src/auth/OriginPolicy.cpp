#include "auth/OriginPolicy.h"

#include <algorithm>

namespace parley::auth {

namespace {

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if (!out.empty() && out.back() == '/') out.pop_back();
  return out;
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto low = [](char c) {
             return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
           };
           return low(x) == low(y);
         });
}

}  // namespace

OriginPolicy::OriginPolicy(std::vector<std::string> allowed) {
  for (const auto& a : allowed) {
    if (a == "*")
      any_ = true;
    else if (!a.empty())
      allowed_.push_back(lowered(a));
  }
}

bool OriginPolicy::allows(std::string_view origin, std::string_view host) const {
  if (origin.empty() || any_) return true;
  if (!allowed_.empty()) {
    const std::string o = lowered(origin);
    return std::find(allowed_.begin(), allowed_.end(), o) != allowed_.end();
  }
  // Same origin: "http://HOST" or "https://HOST" where HOST is the Host header as sent (with its
  // port when it has one). "null" (a sandboxed page, a file://) is never the server's own.
  const std::string o = lowered(origin);
  std::string_view rest = o;
  if (rest.starts_with("http://"))
    rest.remove_prefix(7);
  else if (rest.starts_with("https://"))
    rest.remove_prefix(8);
  else
    return false;
  return !host.empty() && equalsIgnoringCase(rest, host);
}

}  // namespace parley::auth
