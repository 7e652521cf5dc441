#include "store/PostgresError.h"

#include <libpq-fe.h>

namespace parley::store {

std::string oneLine(std::string_view s) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t end = s.find('\n', i);
    if (end == std::string_view::npos) end = s.size();
    std::string_view line = s.substr(i, end - i);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
      line.remove_suffix(1);
    if (!line.empty()) {
      if (!out.empty()) out += ' ';
      out += line;
    }
    i = end + 1;
  }
  return out.empty() ? std::string("unknown error") : out;
}

std::string postgresError(const PGresult* r, const PGconn* c) {
  if (r) {
    if (const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)) {
      std::string out = primary;
      if (const char* detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL))
        out.append(": ").append(detail);
      return oneLine(out);
    }
    if (const char* msg = PQresultErrorMessage(r); msg && *msg) return oneLine(msg);
  }
  return oneLine(PQerrorMessage(c));
}

}  // namespace parley::store
