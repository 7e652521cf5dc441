// Command-line flags of the bench tools: CLI11, plus the number rules both tools have always had.
// Header-only on both sides, so chatbench still builds with the bare g++ line of run.sh.
#pragma once

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace flags {

// strtod, as these flags were always read: CLI11's own integer parse would take 010 for octal 8 and
// refuse 1e4. Overflow and trailing characters are refused.
inline bool number(const std::string& v, double& d) {
  char* end = nullptr;
  errno = 0;
  d = std::strtod(v.c_str(), &end);
  return errno == 0 && end != v.c_str() && *end == '\0';
}

// An integer in [lo, hi], handed on to CLI11 in plain decimal (see number()): hence ->transform(),
// since ->check() would discard the rewrite.
inline CLI::Validator integer(int lo, int hi) {
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  return CLI::Validator(
      [lo, hi, range](std::string& v) -> std::string {
        double d = 0;
        if (!number(v, d)) return v + " is not a number";
        if (d != std::trunc(d) || d < lo || d > hi) return v + " is not an integer in " + range;
        v = std::to_string(static_cast<long long>(d));
        return {};
      },
      range);
}

// A number in [lo, hi]; also refuses nan, which CLI::Range lets through.
inline CLI::Validator real(double lo, double hi) {
  char b[64];
  std::snprintf(b, sizeof b, "[%g, %g]", lo, hi);
  const std::string range = b;
  return CLI::Validator(
      [lo, hi, range](std::string& v) -> std::string {
        double d = 0;
        if (!number(v, d)) return v + " is not a number";
        if (!(d >= lo && d <= hi)) return v + " is not in " + range;
        return {};
      },
      range);
}

// "1,10,100": integers in [lo, hi]. Empty items are skipped, so "" is a valid, empty list.
inline CLI::Option* add_list(CLI::App& app, const std::string& name, std::vector<int>& to, int lo,
                             int hi, const std::string& help) {
  const CLI::Validator item = integer(lo, hi);
  return app
      .add_option_function<std::string>(
          name,
          [&to, item, name](const std::string& v) {
            std::vector<int> out;
            std::stringstream ss(v);
            std::string s;
            while (std::getline(ss, s, ',')) {
              if (s.empty()) continue;
              if (std::string err = item(s); !err.empty()) throw CLI::ValidationError(name, err);
              out.push_back(std::stoi(s));
            }
            to = std::move(out);
          },
          help)
      ->type_name("LIST")
      ->check(CLI::Validator(item.get_description() + " each"));
}

// Empty when argv is fine, else CLI11's one-line reason (the caller exits 2: bad usage). --help
// prints the usage on stdout and exits 0 here.
inline std::string parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) std::exit(app.exit(e));
    return std::string(e.what()) + " (--help for usage)";
  }
  return {};
}

}  // namespace flags
