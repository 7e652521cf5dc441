// RequestToken: where a request's token is, one rule for the WebSocket upgrade
// (net/HttpSession) and the REST routes (http/Router): `?token=` first (a browser cannot set
// headers on a WebSocket), else `Authorization: Bearer`. Finds the token; never verifies it.
// Included only where Boost.URL already is (its params_view is the query).
#pragma once

#include <boost/url/params_view.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace parley::http {

// The token in `Authorization: Bearer TOKEN`, or "" when the header holds none.
inline std::string_view bearerToken(std::string_view authorization) {
  return authorization.starts_with("Bearer ") ? authorization.substr(7) : std::string_view{};
}

// The token a request carries, or nothing when it carries neither.
inline std::optional<std::string> requestToken(const boost::urls::params_view& params,
                                               std::string_view authorization) {
  if (auto it = params.find("token"); it != params.end()) return std::string((*it).value);
  if (auto bearer = bearerToken(authorization); !bearer.empty()) return std::string(bearer);
  return std::nullopt;
}

}  // namespace parley::http
