#include "server.hpp"

#include "common/awaitable.hpp"
#include "common/log.hpp"
#include "access_log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/resource.h>

#include <csignal>
#include <thread>

namespace got {

using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

using reuse_port = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

std::string describe(listener_config const& l)
{
    std::string modes;
    if (l.plaintext)
        modes = "plaintext";
    if (l.tls)
        modes += modes.empty() ? "tls" : ", tls";
    return modes;
}

bool is_fd_exhaustion(boost::system::error_code const& ec)
{
    return ec == boost::system::errc::too_many_files_open ||
           ec == boost::system::errc::too_many_files_open_in_system ||
           ec == boost::system::errc::not_enough_memory || ec == net::error::no_buffer_space;
}

void log_exception(std::exception_ptr e)
{
    if (!e)
        return;
    try {
        std::rethrow_exception(e);
    } catch (std::exception const& ex) {
        log::error(std::string("session ended by exception: ") + ex.what());
    } catch (...) {
        log::error("session ended by unknown exception");
    }
}

awaitable<void> accept_loop(tcp::acceptor& acceptor, std::shared_ptr<listener_config const> lc,
                            server const& srv, session_counter& sessions)
{
    net::steady_timer backoff(acceptor.get_executor());
    auto last_warning = std::chrono::steady_clock::time_point{};
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
        if (ec) {
            if (ec == net::error::operation_aborted || !acceptor.is_open())
                co_return;
            auto now = std::chrono::steady_clock::now();
            if (now - last_warning >= 1s) {
                log::warning("accept on " + lc->address.to_string() + ": " + ec.message());
                last_warning = now;
            }
            if (is_fd_exhaustion(ec)) {
                // Back off instead of spinning while descriptors are exhausted.
                backoff.expires_after(100ms);
                co_await backoff.async_wait(use_nothrow);
            }
            continue;
        }
        sessions.active.fetch_add(1, std::memory_order_relaxed);
        auto ex = socket.get_executor();
        net::co_spawn(ex, run_session(std::move(socket), lc, srv.snapshot(), sessions),
                      log_exception);
    }
}

} // namespace

void raise_fd_limit()
{
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        auto old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &rl) == 0) {
            log::info("raised the open-file limit from " + std::to_string(old) + " to " +
                      std::to_string(rl.rlim_cur));
            return;
        }
    }
    log::info("open-file limit is " + std::to_string(rl.rlim_cur));
}

server::server(std::shared_ptr<runtime const> rt)
    : threads_(rt->cfg->threads ? rt->cfg->threads
                                : std::max(1u, std::thread::hardware_concurrency()))
    , snapshot_(std::move(rt))
{
    for (unsigned i = 0; i < threads_; ++i)
        loops_.push_back(std::make_unique<net::io_context>(1));
}

server::~server()
{
    // Acceptors go while their loops still exist; then the loops, which destroy the
    // frames of sessions cut at the end of the grace period (they touch sessions_).
    listeners_.clear();
    loops_.clear();
}

bool server::open_listeners(std::string& error)
{
    auto rt = snapshot();
    for (auto const& lc : rt->cfg->listeners) {
        listener_slot slot{std::make_shared<listener_config const>(lc), {}};
        boost::system::error_code ec;
        auto address = net::ip::make_address(lc.address.host, ec);
        if (ec) {
            error = "cannot listen on " + lc.address.to_string() + ": " + ec.message();
            return false;
        }
        tcp::endpoint ep(address, lc.address.port);
        for (unsigned i = 0; i < threads_; ++i) {
            auto acc = std::make_unique<tcp::acceptor>(*loops_[i]);
            acc->open(ep.protocol(), ec);
            if (!ec)
                acc->set_option(net::socket_base::reuse_address(true), ec);
            if (!ec && threads_ > 1)
                acc->set_option(reuse_port(true), ec);
            if (!ec)
                acc->bind(ep, ec);
            if (!ec)
                acc->listen(net::socket_base::max_listen_connections, ec);
            if (ec) {
                error = "cannot listen on " + lc.address.to_string() + ": " + ec.message();
                return false;
            }
            if (i == 0)
                ep = acc->local_endpoint(); // port 0: the others join the chosen port
            slot.acceptors.push_back(std::move(acc));
        }
        log::info("listening on " + endpoint_text(ep) + " (" + describe(lc) + ")");
        if (lc.address.port == 0) {
            // Logs name the port actually chosen.
            auto bound = lc;
            bound.address.port = ep.port();
            slot.config = std::make_shared<listener_config const>(std::move(bound));
        }
        listeners_.push_back(std::move(slot));
    }
    return true;
}

void server::start_accepting()
{
    for (auto& slot : listeners_) {
        for (auto& acc : slot.acceptors) {
            net::co_spawn(acc->get_executor(), accept_loop(*acc, slot.config, *this, sessions_),
                          log_exception);
        }
    }
}

void server::close_listeners()
{
    for (auto& slot : listeners_) {
        for (auto& acc : slot.acceptors) {
            // Each acceptor belongs to one loop: close it there.
            net::post(acc->get_executor(), [a = acc.get()] {
                boost::system::error_code ec;
                a->close(ec);
            });
        }
    }
}

void server::stop_all()
{
    for (auto& loop : loops_)
        loop->stop();
}

void server::finish_when_drained(std::chrono::steady_clock::time_point give_up)
{
    auto timer = std::make_shared<net::steady_timer>(*loops_[0]);
    auto check = std::make_shared<std::function<void()>>();
    *check = [this, timer, give_up, check] {
        auto active = sessions_.active.load(std::memory_order_relaxed);
        if (active == 0) {
            log::info("all connections finished; exiting");
            *check = nullptr; // break the self-reference
            stop_all();
            return;
        }
        if (std::chrono::steady_clock::now() >= give_up) {
            log::warning("shutdown grace over; closing " + std::to_string(active) +
                         " connection(s)");
            *check = nullptr;
            stop_all();
            return;
        }
        timer->expires_after(50ms);
        timer->async_wait([check](boost::system::error_code) {
            if (*check)
                (*check)();
        });
    };
    (*check)();
}

void server::begin_shutdown(int signal_number)
{
    if (signal_number == SIGQUIT || shutting_down_) {
        log::info("stopping now");
        stop_all();
        return;
    }
    shutting_down_ = true;
    auto grace = snapshot()->cfg->timeouts.shutdown_grace;
    log::info(std::string("received ") + (signal_number == SIGINT ? "SIGINT" : "SIGTERM") +
              ": no new connections; draining " +
              std::to_string(sessions_.active.load(std::memory_order_relaxed)) +
              " connection(s) for up to " + std::to_string(grace.count()) + " ms");
    close_listeners();
    finish_when_drained(std::chrono::steady_clock::now() + grace);
}

int server::run()
{
    net::signal_set signals(*loops_[0], SIGINT, SIGTERM, SIGQUIT);
    std::function<void(boost::system::error_code, int)> on_signal;
    on_signal = [this, &signals, &on_signal](boost::system::error_code ec, int sig) {
        if (ec)
            return;
        begin_shutdown(sig);
        signals.async_wait(on_signal);
    };
    signals.async_wait(on_signal);

    start_accepting();
    log::info("got-router " GOT_VERSION " running with " + std::to_string(threads_) +
              " event loop(s)");

    std::vector<std::thread> workers;
    for (unsigned i = 1; i < threads_; ++i) {
        workers.emplace_back([loop = loops_[i].get()] {
            auto guard = net::make_work_guard(*loop);
            loop->run();
        });
    }
    {
        auto guard = net::make_work_guard(*loops_[0]);
        loops_[0]->run();
    }
    for (auto& w : workers)
        w.join();
    signals.cancel();
    return 0;
}

} // namespace got
