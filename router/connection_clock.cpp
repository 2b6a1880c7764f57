#include "connection_clock.hpp"

#include "exact_allocator.hpp"

#include <boost/asio/bind_allocator.hpp>
#include <stdexcept>

namespace got {

net::io_context::executor_type connection_clock::loop_executor(net::any_io_executor const& ex)
{
    auto const* io = ex.target<net::io_context::executor_type>();
    if (!io)
        throw std::logic_error("connection_clock: an executor that is not an io_context's");
    return *io;
}

void connection_clock::schedule()
{
    if (stopped_ || expired_)
        return;
    auto when = deadline();
    if (when < armed_)
        arm(when);
}

void connection_clock::arm(clock::time_point when)
{
    armed_ = when;
    timer_.expires_at(when); // a pending wait completes with operation_aborted
    ++outstanding_;
    // Pending for as long as the connection lives: a block of its own size.
    timer_.async_wait(net::bind_allocator(
        exact_allocator<void>(), [this](boost::system::error_code const& ec) { on_timer(ec); }));
}

void connection_clock::on_timer(boost::system::error_code const& ec)
{
    --outstanding_;
    if (ec || stopped_ || expired_)
        return; // re-armed (a newer wait is pending) or stopped
    armed_ = clock::time_point::max();
    auto const now = clock::now();
    boost::system::error_code ignored;
    if (attempt_ && attempt_deadline_ <= now) {
        attempt_->close(ignored); // that connect is over; the session goes on
        attempt_ = nullptr;
        attempt_expired_ = true;
    }
    auto when = deadline();
    if (when > now) {
        arm(when); // activity moved the deadline later
        return;
    }
    expired_ = true;
    if (attempt_)
        attempt_->close(ignored);
    if (backend)
        backend->close(ignored);
    if (client)
        client->close(ignored);
}

} // namespace got
