// The server: N data-path event loops (one io_context per thread, run without locks,
// event_loop.hpp; one acceptor per listener per loop with SO_REUSEPORT), and one control
// loop on the main thread for signals, reloads, the config watcher and the admin
// endpoint, so none of that ever runs on a data-path loop. The control loop reaches a
// data-path loop only through its mailbox.
//
// The current config is an immutable snapshot behind a published shared_ptr: a session
// takes it once at accept; a reload builds and validates a whole new one before it
// publishes it, and keeps the old one on any error.
#pragma once

#include "admin_server.hpp"
#include "common/published.hpp"
#include "config_watcher.hpp"
#include "event_loop.hpp"
#include "health_checker.hpp"
#include "listener_context.hpp"
#include "process.hpp"
#include "runtime.hpp"
#include "session.hpp"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>
#include <vector>

namespace got {

struct listener_slot
{
    std::string key; // the address as configured: a listener's identity across reloads
    published<listener_context const> context;
    // One listening socket per loop, bound by the control loop (on its own io_context,
    // so that a bind error is reported at once and a failed reload closes them there);
    // each data-path loop takes its socket over into its acceptor on its own thread.
    std::vector<std::unique_ptr<net::ip::tcp::acceptor>> bound;
    std::vector<std::unique_ptr<net::ip::tcp::acceptor>> acceptors; // [i]: loop i's only
    net::ip::tcp protocol = net::ip::tcp::v4();
};

class server
{
public:
    server(std::string config_path, std::shared_ptr<runtime const> rt);
    ~server();

    // Binds every listener and the admin endpoint, then drops privileges when the
    // config names a user. On failure returns false with `error` set.
    bool open(std::string& error);

    // Serves until SIGINT/SIGTERM and the drain that follows. Returns the exit code.
    int run();

    std::shared_ptr<runtime const> snapshot() const { return snapshot_.load(); }

private:
    std::shared_ptr<listener_slot> open_listener(listener_config const& lc, std::string& error);
    void start_accepting(std::shared_ptr<listener_slot> const& slot);
    void close_listener(std::shared_ptr<listener_slot> const& slot);
    bool open_admin(config const& cfg, std::string& error);
    void watch_files(config const& cfg);
    void reload(std::string const& why);
    void apply_reload(std::shared_ptr<config const> const& cfg, backend_addresses const& addresses,
                      std::string const& why, std::chrono::steady_clock::time_point started);
    // The bookkeeping of a reload that went live: log level, watched files, metrics.
    void finish_reload(config const& cfg, std::string const& why,
                       std::chrono::steady_clock::time_point started);
    void begin_shutdown(int signal_number);
    void finish_when_drained(std::chrono::steady_clock::time_point give_up);
    void stop_all();
    void stop_loops(); // each data-path loop, through its mailbox
    void wait_signals();
    void schedule_ticket_rotation();

    std::string config_path_;
    unsigned threads_;
    net::io_context control_;
    std::vector<std::unique_ptr<event_loop>> loops_;
    std::vector<std::shared_ptr<listener_slot>> listeners_;
    published<runtime const> snapshot_;
    session_counter sessions_;
    std::vector<inherited_socket> inherited_;
    net::signal_set signals_;
    net::steady_timer ticket_timer_;
    std::unique_ptr<admin_server> admin_;
    config_watcher watcher_;
    health_checker health_;
    std::atomic<bool> shutting_down_{false};
    std::uint64_t reload_generation_ = 0; // control loop only
    std::atomic<bool> ready_{false};
};

// Raises RLIMIT_NOFILE to its hard limit and logs what it did.
void raise_fd_limit();

} // namespace got
