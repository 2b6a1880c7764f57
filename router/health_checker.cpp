#include "health_checker.hpp"

#include "common/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>

namespace got {

namespace beast = boost::beast;
using tcp = net::ip::tcp;

namespace {

constexpr std::size_t max_probe_reply = 64 * 1024;

// One probe; returns what went wrong, empty when healthy.
awaitable<std::string> probe_once(tcp::endpoint ep, health_config const& h)
{
    beast::tcp_stream stream(co_await net::this_coro::executor);
    stream.expires_after(h.timeout); // covers connect, request and reply
    auto [ec] = co_await stream.async_connect(ep, use_nothrow);
    if (ec)
        co_return "connect: " + ec.message();
    if (!h.gopher_check)
        co_return std::string();
    std::string request = h.selector + "\r\n";
    auto [wec, wn] = co_await net::async_write(stream, net::buffer(request), use_nothrow);
    if (wec)
        co_return "request: " + wec.message();
    std::string reply;
    std::array<char, 4096> buf;
    for (;;) {
        auto [rec, n] = co_await stream.async_read_some(net::buffer(buf), use_nothrow);
        reply.append(buf.data(), n);
        if (rec == net::error::eof)
            break;
        if (rec)
            co_return rec == beast::error::timeout ? std::string("no reply in time")
                                                   : "reply: " + rec.message();
        if (reply.size() >= max_probe_reply)
            break;
    }
    if (reply.empty())
        co_return "empty reply";
    if (!h.expect.empty() && reply.find(h.expect) == std::string::npos)
        co_return "reply lacks \"" + h.expect + "\"";
    co_return std::string();
}

awaitable<void> probe_loop(std::shared_ptr<runtime const> rt, std::size_t route_index,
                           std::size_t candidate_index, std::shared_ptr<std::atomic<bool>> stopped)
{
    auto const& route = rt->cfg->routes[route_index];
    auto const& h = route.health;
    auto const& c = rt->route_state[route_index].candidates[candidate_index];
    net::steady_timer timer(co_await net::this_coro::executor);
    while (!stopped->load()) {
        std::string problem = co_await probe_once(c.endpoint, h);
        if (stopped->load())
            break;
        c.state->record(problem.empty(), h.rise, h.fall,
                        problem.empty() ? "health check passed" : "health check: " + problem);
        timer.expires_after(h.interval);
        co_await timer.async_wait(use_nothrow);
    }
}

} // namespace

health_checker::health_checker(net::io_context& ctx)
    : ctx_(ctx)
{}

health_checker::~health_checker()
{
    stop();
}

void health_checker::stop()
{
    if (stopped_)
        stopped_->store(true);
    stopped_.reset();
}

void health_checker::start(std::shared_ptr<runtime const> rt)
{
    stop();
    stopped_ = std::make_shared<std::atomic<bool>>(false);
    for (std::size_t r = 0; r < rt->cfg->routes.size(); ++r) {
        if (!rt->cfg->routes[r].health.enabled)
            continue;
        for (std::size_t c = 0; c < rt->route_state[r].candidates.size(); ++c)
            net::co_spawn(ctx_, probe_loop(rt, r, c, stopped_), net::detached);
    }
}

} // namespace got
