// The server: N event loops (one io_context per thread), one acceptor per listener
// per loop (SO_REUSEPORT lets the kernel spread connections), the current config
// snapshot, and the signal handling for a graceful drain.
#pragma once

#include "common/config.hpp"
#include "runtime.hpp"
#include "session.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace got {

class server
{
public:
    explicit server(std::shared_ptr<runtime const> rt);
    ~server();

    // Binds every listener. On failure returns false with `error` naming the address.
    bool open_listeners(std::string& error);

    // Runs until SIGINT/SIGTERM and the drain that follows. Returns the exit code.
    int run();

    std::shared_ptr<runtime const> snapshot() const { return snapshot_.load(); }

private:
    struct listener_slot
    {
        std::shared_ptr<listener_config const> config;
        std::vector<std::unique_ptr<net::ip::tcp::acceptor>> acceptors; // one per loop
    };

    void start_accepting();
    void begin_shutdown(int signal_number);
    void close_listeners();
    void finish_when_drained(std::chrono::steady_clock::time_point give_up);
    void stop_all();

    unsigned threads_;
    std::vector<std::unique_ptr<net::io_context>> loops_;
    std::vector<listener_slot> listeners_;
    std::atomic<std::shared_ptr<runtime const>> snapshot_;
    session_counter sessions_;
    bool shutting_down_ = false;
};

// Raises RLIMIT_NOFILE to its hard limit and logs what it did.
void raise_fd_limit();

} // namespace got
