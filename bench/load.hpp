// The load itself: one coroutine per concurrent connection slot ("worker").
//
// A worker repeats one request per connection (connect, [handshake,] write the
// selector, read until the server closes) while the run's budget lasts; in --hold
// mode it opens connections and hands each to a keeper coroutine that waits,
// idle, until the server closes it or the run ends. Workers and keepers run on
// their thread's io_context; everything they reference outlives that context.
#pragma once

#include "bench_options.hpp"
#include "bench_stats.hpp"

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <openssl/ssl.h>
#include <string>
#include <vector>

namespace got::bench {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;

// Shared by all threads: when to stop taking new work.
struct run_control
{
    steady::time_point deadline;
    std::atomic<std::int64_t> remaining{INT64_MAX}; // requests (or holds) still to start
    std::atomic<bool> stop{false};
    std::atomic<unsigned> workers_done{0};

    // Claims one request; false once the count, the duration or a signal ends the run.
    bool take()
    {
        if (stop.load(std::memory_order_relaxed) || steady::now() >= deadline)
            return false;
        return remaining.fetch_sub(1, std::memory_order_relaxed) > 0;
    }
};

// One load thread: its event loop, its TLS context and its counters. The
// io_context is declared last so that it (and the coroutine frames it still
// holds) goes first.
struct load_thread
{
    std::unique_ptr<net::ssl::context> tls;
    thread_stats stats;
    net::io_context ioc{1};
};

struct worker
{
    load_thread& thread;
    bench_options const& options;
    run_control& control;
    tcp::endpoint endpoint;
    std::string request;            // selector CR LF
    std::vector<char> buffer;       // reply bytes are read here and dropped
    SSL_SESSION* session = nullptr; // --resume: the session to offer next; owned

    worker(load_thread& t, bench_options const& o, run_control& c, tcp::endpoint ep);
    ~worker();
    worker(worker const&) = delete;
    worker& operator=(worker const&) = delete;
};

// A TLS client context configured from the options (ALPN, no verification: the
// benchmark measures the server, not the PKI).
std::unique_ptr<net::ssl::context> make_client_context(bench_options const& o);

// The load loop of one worker, and the opener loop of --hold.
net::awaitable<void> run_worker(worker& w);
net::awaitable<void> run_opener(worker& w);

} // namespace got::bench
