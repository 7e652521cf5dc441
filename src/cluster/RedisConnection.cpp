#include "cluster/RedisConnection.h"

#include <hiredis.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <deque>

namespace parley::cluster {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// hiredis's reader builds each reply through these: straight into RedisReply, the root on the
// heap (hiredis hands it back, and frees only roots on error), every element in place inside its
// parent's vector, sized once by createArray so the pointers hiredis keeps stay valid.
RedisReply* placeFor(const redisReadTask* task) {
  if (task->parent == nullptr) return new RedisReply;
  auto* parent = static_cast<RedisReply*>(task->parent->obj);
  return &parent->elements[static_cast<std::size_t>(task->idx)];
}

void* createString(const redisReadTask* task, char* text, size_t length) {
  RedisReply* r = placeFor(task);
  r->kind = task->type == REDIS_REPLY_ERROR    ? RedisReply::Kind::Error
            : task->type == REDIS_REPLY_STATUS ? RedisReply::Kind::Status
                                               : RedisReply::Kind::String;
  r->text.assign(text, length);
  return r;
}

void* createArray(const redisReadTask* task, int elements) {
  RedisReply* r = placeFor(task);
  r->kind = RedisReply::Kind::Array;
  r->elements.resize(static_cast<std::size_t>(elements));
  return r;
}

void* createInteger(const redisReadTask* task, long long value) {
  RedisReply* r = placeFor(task);
  r->kind = RedisReply::Kind::Integer;
  r->integer = value;
  return r;
}

void* createNil(const redisReadTask* task) { return placeFor(task); }

void freeObject(void* reply) { delete static_cast<RedisReply*>(reply); }

redisReplyObjectFunctions kFunctions = {createString, createArray, createInteger, createNil,
                                        freeObject};

bool isMessagePush(const std::string& name) {
  return name == "smessage" || name == "message" || name == "pmessage";
}

}  // namespace

class RedisConnection::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, RedisEndpoint endpoint, RedisConnectionOptions options,
       Handlers handlers)
      : io_(io),
        endpoint_(std::move(endpoint)),
        name_(toString(endpoint_)),
        options_(options),
        handlers_(std::move(handlers)),
        socket_(io),
        resolver_(io),
        timer_(io),
        reader_(redisReaderCreateWithFunctions(&kFunctions)) {}
  ~Impl() { redisReaderFree(reader_); }

  void connect() {
    if (state_ != State::Idle) return;
    state_ = State::Connecting;
    auto self = shared_from_this();
    timer_.expires_after(std::chrono::milliseconds(options_.connectTimeoutMs));
    timer_.async_wait([self](const boost::system::error_code&) {
      if (self->state_ == State::Connecting)
        self->fail("connect timeout after " + std::to_string(self->options_.connectTimeoutMs) +
                   " ms");
    });
    resolver_.async_resolve(
        endpoint_.host, std::to_string(endpoint_.port),
        [self](const boost::system::error_code& ec, const tcp::resolver::results_type& results) {
          if (self->state_ != State::Connecting) return;
          if (ec) return self->fail("resolve: " + ec.message());
          asio::async_connect(self->socket_, results,
                              [self](const boost::system::error_code& ec, const tcp::endpoint&) {
                                self->onConnect(ec);
                              });
        });
  }

  void send(const std::vector<std::string>& args, ReplyFn done, Expect expect) {
    if (state_ == State::Closed) {
      // Never inside the call: the caller may be in the middle of its own bookkeeping.
      asio::post(io_, [done = std::move(done), why = "LINK " + closeReason_ + " (" + name_ + ")"] {
        if (done) done(RedisReply::makeError(why));
      });
      return;
    }
    argv_.clear();
    lengths_.clear();
    for (const auto& a : args) {
      argv_.push_back(a.data());
      lengths_.push_back(a.size());
    }
    char* formatted = nullptr;
    const int length = redisFormatCommandArgv(&formatted, static_cast<int>(args.size()),
                                              argv_.data(), lengths_.data());
    if (length < 0 || formatted == nullptr) {
      asio::post(io_, [done = std::move(done)] {
        if (done) done(RedisReply::makeError("LINK could not format the command"));
      });
      return;
    }
    out_.append(formatted, static_cast<std::size_t>(length));
    redisFreeCommand(formatted);
    pending_.push_back({std::move(done),
                        Clock::now() + std::chrono::milliseconds(options_.commandTimeoutMs),
                        expect});
    flush();
    armTimer();
  }

  void fail(const std::string& why) {
    if (state_ == State::Closed) return;
    auto self = shared_from_this();  // a callback below may drop the last outside owner
    state_ = State::Closed;
    closeReason_ = why;
    boost::system::error_code ignored;
    socket_.close(ignored);
    resolver_.cancel();
    timer_.cancel();
    out_.clear();
    auto pending = std::move(pending_);
    pending_.clear();
    const std::string text = "LINK " + why + " (" + name_ + ")";
    for (auto& p : pending)
      if (p.done) p.done(RedisReply::makeError(text));
    if (!detached_ && handlers_.closed) {
      auto closed = std::move(handlers_.closed);
      closed(why);
    }
  }

  void detach() {
    detached_ = true;
    fail("closed");
  }

  bool connected() const { return state_ == State::Connected; }
  bool closed() const { return state_ == State::Closed; }
  std::size_t pending() const { return pending_.size(); }
  const RedisEndpoint& endpoint() const { return endpoint_; }

 private:
  enum class State : std::uint8_t { Idle, Connecting, Connected, Closed };
  struct Pending {
    ReplyFn done;
    Clock::time_point deadline;
    Expect expect;
  };

  void onConnect(const boost::system::error_code& ec) {
    if (state_ != State::Connecting) return;
    if (ec) return fail("connect: " + ec.message());
    boost::system::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    state_ = State::Connected;
    timer_.cancel();
    read();
    flush();
    armTimer();
    if (!detached_ && handlers_.connected) handlers_.connected();
  }

  void armTimer() {
    if (timerArmed_ || pending_.empty() || state_ != State::Connected) return;
    timerArmed_ = true;
    timer_.expires_at(pending_.front().deadline);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code&) {
      self->timerArmed_ = false;
      if (self->state_ != State::Connected) return;
      // Judged by the clock, not by the error code: a cancelled wait may already have fired.
      if (!self->pending_.empty() && self->pending_.front().deadline <= Clock::now())
        return self->fail("timeout: no reply within " +
                          std::to_string(self->options_.commandTimeoutMs) + " ms");
      self->armTimer();
    });
  }

  void flush() {
    if (writing_ || out_.empty() || state_ != State::Connected) return;
    writing_ = true;
    std::swap(out_, writeBuffer_);
    out_.clear();
    asio::async_write(socket_, asio::buffer(writeBuffer_),
                      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                        self->writing_ = false;
                        if (self->state_ != State::Connected) return;
                        if (ec) return self->fail("write: " + ec.message());
                        // A burst may have grown it; keep no more than 1 MiB between bursts.
                        if (self->writeBuffer_.capacity() > (1u << 20)) {
                          std::string().swap(self->writeBuffer_);
                        } else {
                          self->writeBuffer_.clear();
                        }
                        self->flush();
                      });
  }

  void read() {
    socket_.async_read_some(
        asio::buffer(readBuffer_),
        [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
          if (self->state_ != State::Connected) return;
          if (ec == asio::error::eof) return self->fail("closed by the server");
          if (ec) return self->fail("read: " + ec.message());
          if (redisReaderFeed(self->reader_, self->readBuffer_.data(), n) != REDIS_OK)
            return self->fail(std::string("protocol: ") + self->reader_->errstr);
          while (true) {
            void* parsed = nullptr;
            if (redisReaderGetReply(self->reader_, &parsed) != REDIS_OK)
              return self->fail(std::string("protocol: ") + self->reader_->errstr);
            if (parsed == nullptr) break;
            std::unique_ptr<RedisReply> reply(static_cast<RedisReply*>(parsed));
            self->dispatch(*reply);
            if (self->state_ != State::Connected) return;  // a callback closed it
          }
          self->read();
        });
  }

  void dispatch(RedisReply& reply) {
    if (options_.subscriber && reply.kind == RedisReply::Kind::Array && !reply.elements.empty() &&
        reply.elements[0].kind == RedisReply::Kind::String) {
      const std::string& name = reply.elements[0].text;
      if (isMessagePush(name)) {
        if (!detached_ && handlers_.push) handlers_.push(reply);
        return;
      }
      const Expect kind =
          name == "ssubscribe" || name == "subscribe" || name == "psubscribe" ? Expect::Subscribe
          : name == "sunsubscribe" || name == "unsubscribe" || name == "punsubscribe"
              ? Expect::Unsubscribe
              : Expect::Reply;
      if (kind != Expect::Reply) {
        if (!pending_.empty() && pending_.front().expect == kind) {
          auto head = std::move(pending_.front());
          pending_.pop_front();
          if (head.done) head.done(reply);  // a copy: the push handler below needs it too
          if (state_ != State::Connected) return;
        }
        if (!detached_ && handlers_.push) handlers_.push(reply);
        return;
      }
    }
    if (pending_.empty()) return fail("protocol: a reply no command asked for");
    auto head = std::move(pending_.front());
    pending_.pop_front();
    if (head.done) head.done(std::move(reply));
  }

  asio::io_context& io_;
  RedisEndpoint endpoint_;
  std::string name_;
  RedisConnectionOptions options_;
  Handlers handlers_;
  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;  // the connect deadline, then the head command's deadline
  redisReader* reader_;
  State state_ = State::Idle;
  bool writing_ = false;
  bool timerArmed_ = false;
  bool detached_ = false;
  std::string closeReason_ = "closed";
  std::deque<Pending> pending_;
  std::string out_;          // formatted, not yet handed to a write
  std::string writeBuffer_;  // the write in flight
  std::vector<const char*> argv_;
  std::vector<size_t> lengths_;
  std::array<char, 16 * 1024> readBuffer_;
};

RedisConnection::RedisConnection(asio::io_context& io, RedisEndpoint endpoint,
                                 RedisConnectionOptions options, Handlers handlers)
    : impl_(std::make_shared<Impl>(io, std::move(endpoint), options, std::move(handlers))) {}

RedisConnection::~RedisConnection() { impl_->detach(); }

void RedisConnection::connect() { impl_->connect(); }

void RedisConnection::send(const std::vector<std::string>& args, ReplyFn done, Expect expect) {
  impl_->send(args, std::move(done), expect);
}

void RedisConnection::close(std::string_view why) { impl_->fail(std::string(why)); }

bool RedisConnection::connected() const { return impl_->connected(); }
bool RedisConnection::closed() const { return impl_->closed(); }
std::size_t RedisConnection::pending() const { return impl_->pending(); }
const RedisEndpoint& RedisConnection::endpoint() const { return impl_->endpoint(); }

}  // namespace parley::cluster
