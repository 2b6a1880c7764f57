// A data-path event loop: one io_context that one thread runs, without locks.
//
// Asio locks its scheduler's queue on every handler it runs and each socket's reactor
// state on every operation, so that several threads may share an io_context. Each of
// got-router's data-path loops is run by one thread only, and those locks cost about
// 3.4 k of the 42 k user-space instructions of a passed-through connection (68
// lock/unlock pairs; bench/RESULTS.md). `concurrency_hint` below turns them off, which
// Asio allows only when nothing else touches the io_context from another thread: no
// post, no co_spawn, no stop, no socket registered or closed there.
//
// The control loop (signals, reloads, the drain) still has to reach the data-path loops:
// it sends them functions through the loop's mailbox (an eventfd and a locked queue of
// its own), and they run on the loop's thread, in the order sent. Everything the
// control loop asked of a loop directly before (co_spawn of an accept loop, closing an
// acceptor, stop) goes that way.
#pragma once

#include "common/awaitable.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <mutex>
#include <vector>

namespace got {

class loop_mailbox
{
public:
    // Opens the eventfd and starts waiting on it in `loop` (call before `loop` runs, or
    // on its thread).
    explicit loop_mailbox(net::io_context& loop);
    loop_mailbox(loop_mailbox const&) = delete;
    loop_mailbox& operator=(loop_mailbox const&) = delete;

    // From any thread: `fn` runs on the loop's thread once the loop runs, after every
    // function sent before it. Throws std::system_error if the eventfd cannot be woken.
    void send(std::function<void()> fn);

private:
    void wait();

    net::posix::stream_descriptor event_;
    std::mutex mutex_;
    std::vector<std::function<void()>> pending_; // under mutex_
};

struct event_loop
{
    // No locking in Asio's scheduler, in its reactor's registrations or in its per-socket
    // state (BOOST_ASIO_CONCURRENCY_HINT_UNSAFE): one thread, and the mailbox for others.
    static constexpr int concurrency_hint = BOOST_ASIO_CONCURRENCY_HINT_UNSAFE;

    net::io_context io{concurrency_hint};
    loop_mailbox mail{io}; // after io: destroyed first, while io still exists
};

} // namespace got
