// Log-linear ("HDR-like") histogram of non-negative integers, e.g. latencies in nanoseconds.
//
// Values below 2^kSubBits get one bucket each; above that every power of two [2^e, 2^(e+1)) is
// split into 2^kSubBits equal buckets, so a reported percentile is within 2^-kSubBits (0.8 %) of
// the true value. Fixed memory (~40 KiB), O(1) record, no allocation: cheap enough for millions of
// samples/s.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

class LogLinearHistogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  static constexpr int kMaxExp =
      44;  // values >= 2^45 (~9.8 h in ns) are clamped into the top bucket
  static constexpr size_t kBuckets = static_cast<size_t>(kMaxExp - kSubBits + 2) * kSub;

  static size_t index(uint64_t v) {
    if (v < kSub) return static_cast<size_t>(v);
    int e = 63 - std::countl_zero(v);
    if (e > kMaxExp) {
      e = kMaxExp;
      v = (uint64_t{1} << (kMaxExp + 1)) - 1;
    }
    const uint64_t m = (v >> (e - kSubBits)) & (kSub - 1);
    return static_cast<size_t>(e - kSubBits + 1) * kSub + static_cast<size_t>(m);
  }
  static uint64_t lowest(size_t i) {
    if (i < kSub) return i;
    const int e = static_cast<int>(i / kSub) + kSubBits - 1;
    const uint64_t m = i % kSub;
    return (uint64_t{1} << e) | (m << (e - kSubBits));
  }
  static uint64_t highest(size_t i) {
    if (i < kSub) return i;
    const int e = static_cast<int>(i / kSub) + kSubBits - 1;
    return lowest(i) + (uint64_t{1} << (e - kSubBits)) - 1;
  }

  void record(uint64_t v) {
    ++counts_[index(v)];
    ++total_;
    sum_ += static_cast<double>(v);
    if (v > max_) max_ = v;
    if (v < min_) min_ = v;
  }
  void merge(const LogLinearHistogram& o) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
  }

  uint64_t count() const { return total_; }
  uint64_t max() const { return total_ ? max_ : 0; }
  uint64_t min() const { return total_ ? min_ : 0; }
  double mean() const { return total_ ? sum_ / static_cast<double>(total_) : 0.0; }

  // Value at quantile q in [0,1]: the highest value equivalent to the bucket holding the
  // ceil(q*count)-th sample, clamped to the recorded [min, max].
  uint64_t quantile(double q) const {
    if (total_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total_)));
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::clamp(highest(i), min_, max_);
    }
    return max_;
  }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  double sum_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = std::numeric_limits<uint64_t>::max();
};
