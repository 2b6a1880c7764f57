// What got-bench counts. Each load thread owns one `thread_stats`: its counters
// are atomics only so that the progress line on the main thread may read them
// while the run goes on (relaxed, one writer); the histogram and the error
// texts are touched by their thread alone and read after it has stopped.
#pragma once

#include "latency_histogram.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace got::bench {

enum class failure
{
    connect,
    handshake,
    write,
    read,
    short_reply,
};
inline constexpr std::size_t failure_kinds = 5;

inline char const* failure_name(failure f)
{
    switch (f) {
    case failure::connect:
        return "connect";
    case failure::handshake:
        return "handshake";
    case failure::write:
        return "write";
    case failure::read:
        return "read";
    case failure::short_reply:
        return "short reply";
    }
    return "?";
}

struct thread_stats
{
    std::atomic<std::uint64_t> ok{0};
    std::atomic<std::uint64_t> bytes{0};
    std::atomic<std::uint64_t> handshakes{0};
    std::atomic<std::uint64_t> resumed{0};
    std::atomic<std::uint64_t> held{0};              // --hold: connections open now
    std::atomic<std::uint64_t> closed_while_held{0}; // --hold: closed by the server
    std::array<std::atomic<std::uint64_t>, failure_kinds> failed{};

    latency_histogram latency;                         // successful requests, µs
    std::array<std::string, failure_kinds> last_error; // an example message per kind
    std::string tls_version;                           // of the first handshake
    std::string cipher;

    void add_failure(failure f, std::string message)
    {
        auto i = static_cast<std::size_t>(f);
        failed[i].fetch_add(1, std::memory_order_relaxed);
        last_error[i] = std::move(message);
    }

    std::uint64_t failures() const
    {
        std::uint64_t n = 0;
        for (auto const& f : failed)
            n += f.load(std::memory_order_relaxed);
        return n;
    }
};

// The sum over all threads, taken once the threads have stopped.
struct run_summary
{
    std::uint64_t ok = 0;
    std::uint64_t bytes = 0;
    std::uint64_t handshakes = 0;
    std::uint64_t resumed = 0;
    std::uint64_t held = 0;
    std::uint64_t closed_while_held = 0;
    std::array<std::uint64_t, failure_kinds> failed{};
    std::array<std::string, failure_kinds> last_error;
    std::string tls_version;
    std::string cipher;
    latency_histogram latency;

    void add(thread_stats const& t)
    {
        ok += t.ok.load();
        bytes += t.bytes.load();
        handshakes += t.handshakes.load();
        resumed += t.resumed.load();
        held += t.held.load();
        closed_while_held += t.closed_while_held.load();
        for (std::size_t i = 0; i < failure_kinds; ++i) {
            failed[i] += t.failed[i].load();
            if (last_error[i].empty())
                last_error[i] = t.last_error[i];
        }
        if (tls_version.empty()) {
            tls_version = t.tls_version;
            cipher = t.cipher;
        }
        latency.merge(t.latency);
    }

    std::uint64_t failures() const
    {
        std::uint64_t n = 0;
        for (auto f : failed)
            n += f;
        return n;
    }
};

} // namespace got::bench
