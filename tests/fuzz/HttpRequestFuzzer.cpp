// fuzz_http_request: Beast's request parser as Parley's HTTP path drives it, on arbitrary bytes
// cut into reads where the fuzzer chooses:
// - a connection's first read, as serveConnection() (net/HttpSession.cpp) parses it:
//   request_parser<empty_body>, 8 KiB header limit, its put() loop over at most 8 KiB, and for a
//   complete request to /ws/..., the upgrade's reading of the target (UpgradeTarget.h) and its
//   header checks (Upgrade, Sec-WebSocket-Key, Sec-WebSocket-Version);
// - the requests an HttpSession reads: request_parser<string_body>, 64 KiB body limit, and its
//   read loop (HttpSession::readSome), which counts the header's bytes across reads because
//   Beast's header_limit does not (see that function; this target found it). Written out here
//   step for step, as the session is private to HttpSession.cpp: keep the two in step.
// Checks: the whole input in one read and in the fuzzer's reads give the same request (method,
// target, version, every field, the body, from the same bytes), or both refuse it; an accepted
// header is at most 8 KiB (request line included) and a body at most 64 KiB; the first read's
// request is the session's.
// Input: [request bytes][read lengths: u16 each][number of reads] (integers read from the end).
#include <fuzzer/FuzzedDataProvider.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "FuzzSupport.h"
#include "UpgradeTarget.h"

namespace {

namespace bhttp = boost::beast::http;

constexpr std::size_t kHeaderLimit = 8 * 1024;  // net/HttpSession.cpp
constexpr std::size_t kBodyLimit = 64 * 1024;

struct Parsed {
  bool done = false;
  std::size_t used = 0;        // bytes the parser took
  std::size_t headerUsed = 0;  // of which, the header's
  std::string head;            // method, target, version and every field, one per line
  std::string body;
  bool operator==(const Parsed&) const = default;
};

template <class Body>
std::string describeHead(const bhttp::request_parser<Body>& p) {
  const auto& req = p.get();
  std::string out(req.method_string());
  out += ' ';
  out += req.target();
  out += ' ' + std::to_string(req.version()) + '\n';
  for (const auto& f : req) {
    out += f.name_string();
    out += ": ";
    out += f.value();
    out += '\n';
  }
  return out;
}

// HttpSession::readSome over `reads` (their lengths add up to the input; the last one is
// followed by the peer's close): parse what is buffered, read, repeat.
Parsed sessionRead(std::string_view input, const std::vector<std::size_t>& reads) {
  bhttp::request_parser<bhttp::string_body> p;
  p.header_limit(kHeaderLimit);
  p.body_limit(kBodyLimit);
  Parsed out;
  boost::system::error_code ec;
  std::string buffer;
  std::size_t from = 0;
  for (std::size_t read = 0;; ++read) {
    while (!buffer.empty() && !p.is_done()) {
      const bool inHeader = !p.is_header_done();
      const std::size_t used = p.put(boost::asio::buffer(buffer), ec);
      buffer.erase(0, used);
      out.used += used;
      if (inHeader) out.headerUsed += used;
      if (out.headerUsed > kHeaderLimit) ec = bhttp::error::header_limit;
      if (ec == bhttp::error::need_more) {
        ec = {};
        break;
      }
      if (ec) return out;  // refused
      if (used == 0) break;
    }
    if (p.is_done()) break;
    if (read == reads.size()) {  // the peer closed
      if (p.got_some()) p.put_eof(ec);
      break;
    }
    buffer.append(input.substr(from, reads[read]));
    from += reads[read];
  }
  out.done = !ec && p.is_done();
  if (out.done) {
    out.head = describeHead(p);
    out.body = p.get().body();
  }
  return out;
}

// serveConnection()'s first read, step for step; `session` is the same bytes read by a session.
void firstRead(std::string_view received, const Parsed& session) {
  bhttp::request_parser<bhttp::empty_body> parser;
  parser.header_limit(kHeaderLimit);
  boost::system::error_code ec;
  std::size_t used = 0;
  while (!ec && !parser.is_done() && used < received.size()) {
    const std::size_t step =
        parser.put(boost::asio::buffer(received.data() + used, received.size() - used), ec);
    if (step == 0) break;
    used += step;
  }
  FUZZ_CHECK(used <= received.size(), "used %zu of %zu bytes", used, received.size());
  if (ec || !parser.is_done()) return;  // an HttpSession takes over with the bytes
  // (No body but an empty chunked one: any other is "unexpected" to an empty_body parser.)
  FUZZ_CHECK(session.done && session.used == used && session.head == describeHead(parser),
             "the first read and a session disagree on the request");
  const auto& req = parser.get();
  const std::string_view target = req.target();
  if (!target.substr(0, target.find('?')).starts_with("/ws/")) return;
  const parley::fuzz::UpgradeTarget up = parley::fuzz::readUpgradeTarget(target);
  if (!up.refusal.empty()) return;
  const bool upgrade = boost::beast::websocket::is_upgrade(req);
  const auto key = req[bhttp::field::sec_websocket_key];
  const bool handshake =
      !key.empty() && key.size() <= 64 && req[bhttp::field::sec_websocket_version] == "13";
  if (upgrade && handshake)
    FUZZ_CHECK(req.method() == bhttp::verb::get && req.version() >= 11,
               "an upgrade that is not GET HTTP/1.1 or later");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const int readCount = in.ConsumeIntegralInRange(1, 16);
  std::vector<std::size_t> reads;
  for (int i = 0; i + 1 < readCount && in.remaining_bytes() > 2; ++i)
    reads.push_back(in.ConsumeIntegral<std::uint16_t>() % 2048);
  const std::string input = in.ConsumeRemainingBytesAsString();
  std::size_t total = 0;
  for (auto& r : reads) {
    r = std::min(r, input.size() - total);
    total += r;
  }
  reads.push_back(input.size() - total);

  const Parsed whole = sessionRead(input, {input.size()});
  const Parsed pieces = sessionRead(input, reads);
  // Both refuse, or both read the same request from the same bytes. (Not always with the same
  // error: Beast parses a header's lines only once its end is buffered, except on a request's
  // first put, so a malformed line is reported as such from one read and as a partial message
  // when pieces never completed the header.)
  FUZZ_CHECK((!whole.done && !pieces.done) || whole == pieces,
             "one read (done %d, %zu used) and %zu reads (done %d, %zu used) disagree", whole.done,
             whole.used, reads.size(), pieces.done, pieces.used);
  for (const Parsed* p : {&whole, &pieces}) {
    if (!p->done) continue;
    const std::size_t headerEnd = input.find("\r\n\r\n");
    FUZZ_CHECK(headerEnd != std::string::npos && headerEnd + 4 == p->headerUsed,
               "the header ends at %zu, the session counted %zu", headerEnd + 4, p->headerUsed);
    FUZZ_CHECK(p->headerUsed <= kHeaderLimit, "a header of %zu bytes accepted", p->headerUsed);
    FUZZ_CHECK(p->body.size() <= kBodyLimit, "a body of %zu bytes accepted", p->body.size());
  }
  firstRead(std::string_view(input).substr(0, std::min(input.size(), kHeaderLimit)), whole);
  return 0;
}
