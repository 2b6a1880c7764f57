// One deadline per connection, checked by a single timer with a plain callback (no
// coroutine beside the session, so an idle connection holds no frame for it). When
// the deadline passes, the callback closes the sockets: every pending operation
// completes with an error and the session unwinds.
//
// Two kinds of deadline: fixed (from accept to a finished handshake, or for connect)
// and idle (`last_activity + idle`, pushed forward by every read). Per-operation
// timers would cost a timer reschedule per read and would cut a long one-way
// transfer whose other direction sits in a read; this costs one time stamp per read.
// A deadline that moves later is picked up when the timer fires (it re-arms); one
// that moves earlier (a shorter fixed budget, the half-closed limit) re-arms at once.
// Beside either, a backend connect attempt may have its own deadline (start_attempt),
// which closes that socket alone: the same timer, no second one per connection.
//
// The callback refers to the clock, so the clock must outlive it: the session calls
// stop(), which cancels the timer, and keeps the clock until quiet() says no callback
// is outstanding.
#pragma once

#include "common/awaitable.hpp"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

namespace got {

class connection_clock
{
public:
    using clock = std::chrono::steady_clock;

    // `ex` is an io_context's (every socket of the router is): the timer and its
    // pending wait then hold that executor alone, not a polymorphic one, which makes
    // them smaller in every connection.
    explicit connection_clock(net::any_io_executor const& ex)
        : timer_(loop_executor(ex))
    {}
    connection_clock(connection_clock const&) = delete;
    connection_clock& operator=(connection_clock const&) = delete;

    // What expiry closes; the session keeps these current.
    net::ip::tcp::socket* client = nullptr;
    net::ip::tcp::socket* backend = nullptr;
    clock::duration half_closed{}; // idle limit once one side has finished

    // The deadline passed and the sockets were closed.
    bool expired() const noexcept { return expired_; }

    void set_fixed(clock::duration d)
    {
        idle_phase_ = false;
        fixed_deadline_ = clock::now() + d;
        schedule();
    }
    void set_idle(clock::duration d)
    {
        idle_phase_ = true;
        idle_ = d;
        last_activity_ = clock::now();
        schedule();
    }
    void touch() noexcept { last_activity_ = clock::now(); }

    // A backend connect attempt bounded on its own: `d` from now the clock closes
    // `attempt` alone, and the session goes on (to the next backend). end_attempt() once
    // the connect is over says whether that deadline closed it. The fixed deadline of
    // the phase keeps running beside it (and closes the attempt too).
    void start_attempt(net::ip::tcp::socket& attempt, clock::duration d)
    {
        attempt_ = &attempt;
        attempt_deadline_ = clock::now() + d;
        attempt_expired_ = false;
        schedule();
    }
    bool end_attempt() noexcept
    {
        attempt_ = nullptr;
        return attempt_expired_;
    }
    // A fixed deadline at least `d` from now, the current one kept when it is later: in
    // the common case (the handshake's budget still running) the timer stays as armed.
    void extend_fixed(clock::duration d)
    {
        idle_phase_ = false;
        fixed_deadline_ = std::max(fixed_deadline_, clock::now() + d);
        schedule();
    }
    void one_side_done()
    {
        idle_ = std::min(idle_, half_closed);
        schedule();
    }
    clock::time_point deadline() const noexcept
    {
        auto phase = idle_phase_ ? last_activity_ + idle_ : fixed_deadline_;
        return attempt_ ? std::min(phase, attempt_deadline_) : phase;
    }

    // Cancels the timer: no deadline fires after this. A cancelled wait still completes
    // through the event loop, and one whose time had come may already be queued, so the
    // clock must live on until quiet() (the session's context goes in a post then).
    void stop()
    {
        stopped_ = true;
        timer_.cancel();
    }
    bool quiet() const noexcept { return outstanding_ == 0; }
    net::io_context::executor_type get_executor() noexcept { return timer_.get_executor(); }

private:
    // Arms the timer for the deadline unless it is already armed for no later.
    void schedule();
    void arm(clock::time_point when);
    void on_timer(boost::system::error_code const& ec);

    static net::io_context::executor_type loop_executor(net::any_io_executor const& ex);

    net::basic_waitable_timer<clock, net::wait_traits<clock>, net::io_context::executor_type>
        timer_;
    clock::time_point armed_ = clock::time_point::max(); // max: not armed
    clock::time_point fixed_deadline_{};
    clock::time_point last_activity_{};
    clock::duration idle_{};
    net::ip::tcp::socket* attempt_ = nullptr;
    clock::time_point attempt_deadline_{};
    bool attempt_expired_ = false;
    unsigned outstanding_ = 0; // callbacks queued or pending (a re-arm leaves one behind)
    bool idle_phase_ = false;
    bool expired_ = false;
    bool stopped_ = false;
};

} // namespace got
