// One deadline per connection, kept in its event loop's deadline queue: a binary heap
// of the loop's connections by deadline, with one Asio timer armed for the earliest
// (nginx's timer tree, in effect). A connection therefore holds no timer, no pending
// timer operation and no entry in Asio's timer queue, and stopping its clock takes it
// out of the heap at once: no cancelled wait to complete through the loop, so the
// session's context can go as soon as the session ends. When the deadline passes, the
// queue calls the clock, which closes the sockets: every pending operation completes
// with an error and the session unwinds.
//
// Two kinds of deadline: fixed (from accept to a finished handshake, or for connect)
// and idle (`last_activity + idle`, pushed forward by every read). Per-operation
// timers would cost a timer reschedule per read and would cut a long one-way
// transfer whose other direction sits in a read; this costs one time stamp per read.
// A deadline that moves later is picked up when its place in the queue comes (it is
// placed again); one that moves earlier (a shorter fixed budget, the half-closed limit)
// moves up in the queue at once. Beside either, a backend connect attempt may have its
// own deadline (start_attempt), which closes that socket alone: the same place in the
// queue, no second one per connection.
//
// The queue belongs to an io_context that one thread runs (event_loop.hpp): no locks.
#pragma once

#include "common/awaitable.hpp"
#include "loop_socket.hpp"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <vector>

namespace got {

class connection_clock;

// The deadlines of one io_context's connections (a service of that io_context).
class deadline_queue : public net::execution_context::service
{
public:
    using clock = std::chrono::steady_clock;
    using key_type = deadline_queue;
    static inline net::execution_context::id id;

    explicit deadline_queue(net::execution_context& ctx);
    ~deadline_queue() override;

    // The queue of the io_context that `ex` belongs to (remembered per thread).
    static deadline_queue& of(net::io_context::executor_type const& ex);

    // Puts the clock in the queue at `when`, or moves it there.
    void place(connection_clock& c, clock::time_point when);
    // Takes the clock out of the queue; nothing when it is not in it.
    void remove(connection_clock& c) noexcept;

    std::size_t size() const noexcept { return heap_.size(); }
    // Where the clock is in the queue (max: not in it).
    clock::time_point due(connection_clock const& c) const noexcept;
    // Every entry no earlier than its parent, and every clock knowing its place (tests).
    bool consistent() const noexcept;

private:
    struct entry
    {
        clock::time_point when;
        connection_clock* clk;
    };

    void shutdown() override;
    void arm(clock::time_point when);
    void on_timer(boost::system::error_code const& ec);
    void set(std::size_t i, entry e) noexcept;
    void sift_up(std::size_t i) noexcept;
    void sift_down(std::size_t i) noexcept;

    std::vector<entry> heap_;
    net::basic_waitable_timer<clock, net::wait_traits<clock>, net::io_context::executor_type>
        timer_;
    clock::time_point armed_ = clock::time_point::max(); // max: no wait pending for a deadline
    bool shut_down_ = false;
};

class connection_clock
{
public:
    using clock = std::chrono::steady_clock;

    // `ex` is an io_context's (every socket of the router is), run by one thread.
    explicit connection_clock(loop_executor const& ex)
        : queue_(&deadline_queue::of(ex))
    {}
    connection_clock(connection_clock const&) = delete;
    connection_clock& operator=(connection_clock const&) = delete;
    ~connection_clock() { queue_->remove(*this); }

    // What expiry closes; the session keeps these current.
    tcp_socket* client = nullptr;
    tcp_socket* backend = nullptr;
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
    void start_attempt(tcp_socket& attempt, clock::duration d)
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

    // Takes the clock out of its queue: no deadline fires after this, and nothing of
    // the clock is left pending in the loop (it may be destroyed at once).
    void stop() noexcept
    {
        stopped_ = true;
        queue_->remove(*this);
    }

private:
    friend class deadline_queue;

    // Moves the clock's place in the queue earlier when the deadline is earlier than it
    // (a later one is found when the place comes).
    void schedule();
    // The place came (the queue took the clock out first): closes what is due, or
    // places the clock again at the deadline that activity moved later.
    void on_due(clock::time_point now);

    static constexpr std::uint32_t not_queued = UINT32_MAX;

    deadline_queue* queue_;
    std::uint32_t index_ = not_queued; // its place in the queue's heap
    bool attempt_expired_ = false;
    bool idle_phase_ = false;
    bool expired_ = false;
    bool stopped_ = false;
    clock::time_point fixed_deadline_{};
    clock::time_point last_activity_{};
    clock::duration idle_{};
    tcp_socket* attempt_ = nullptr;
    clock::time_point attempt_deadline_{};
};

} // namespace got
