// The command line of got-bench: what to load, how hard, and for how long.
//
// A run is always bounded: by --duration (default 10 s), by --requests, or by
// whichever comes first when both are given. Every socket operation has
// --timeout as its limit.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace got::bench {

struct bench_options
{
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    bool tls = false;
    std::string sni;      // empty: no SNI
    std::string alpn;     // empty: offer no ALPN
    std::string selector; // sent as `selector CR LF`
    std::optional<std::uint64_t> expect_bytes;
    unsigned concurrency = 1;
    std::chrono::milliseconds duration{10'000};
    bool duration_given = false;
    std::optional<std::uint64_t> requests;
    bool resume = false; // reuse the TLS session of the previous request
    unsigned threads = 1;
    std::optional<std::uint64_t> hold; // open, handshake and hold this many connections
    std::chrono::milliseconds timeout{10'000};
    bool csv = false;
    bool quiet = false; // no progress lines
};

// Parses argv. Returns an exit code when the program should stop (help, bad
// arguments), else nothing and fills `out`.
std::optional<int> parse_options(int argc, char** argv, bench_options& out);

// The names of the fields of `--csv`, comma separated, in order.
char const* csv_header();

} // namespace got::bench
