// One deadline per connection, checked by a single timer: the `watchdog` runs beside
// the session (joined with `||`) and, when the deadline passes, closes the sockets so
// every pending operation completes with an error and the session unwinds.
//
// Two kinds of deadline: fixed (from accept to a finished handshake, or for connect)
// and idle (`last_activity + idle`, pushed forward by every read). Per-operation
// timers would cost a timer reschedule per read and would cut a long one-way
// transfer whose other direction sits in a read; this costs one time stamp per read.
#pragma once

#include "common/awaitable.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

namespace got {

struct connection_clock
{
    using clock = std::chrono::steady_clock;

    clock::time_point fixed_deadline{};
    clock::duration idle{};
    clock::duration half_closed{}; // idle limit once one side has finished
    clock::time_point last_activity{};
    bool idle_phase = false;
    bool expired = false;

    // What the watchdog closes on expiry; the session keeps these current.
    net::ip::tcp::socket* client = nullptr;
    net::ip::tcp::socket* backend = nullptr;

    void set_fixed(clock::duration d)
    {
        idle_phase = false;
        fixed_deadline = clock::now() + d;
    }
    void set_idle(clock::duration d)
    {
        idle_phase = true;
        idle = d;
        last_activity = clock::now();
    }
    void touch() { last_activity = clock::now(); }
    void one_side_done() { idle = std::min(idle, half_closed); }
    clock::time_point deadline() const
    {
        return idle_phase ? last_activity + idle : fixed_deadline;
    }
};

// Runs until the deadline passes (then closes the sockets, sets `expired`) or until
// cancelled by the `||` it is joined with.
awaitable<void> watchdog(connection_clock& clk);

} // namespace got
