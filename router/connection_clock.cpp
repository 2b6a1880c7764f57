#include "connection_clock.hpp"

#include <boost/asio/this_coro.hpp>

namespace got {

awaitable<void> watchdog(connection_clock& clk)
{
    net::steady_timer timer(co_await net::this_coro::executor);
    for (;;) {
        auto deadline = clk.deadline();
        if (deadline <= connection_clock::clock::now())
            break;
        timer.expires_at(deadline);
        auto [ec] = co_await timer.async_wait(use_nothrow);
        if (ec)
            co_return; // cancelled: the session finished first
    }
    clk.expired = true;
    boost::system::error_code ignored;
    if (clk.backend)
        clk.backend->close(ignored);
    if (clk.client)
        clk.client->close(ignored);
}

} // namespace got
