#include "health_checker.hpp"

#include "backend_stream.hpp"
#include "common/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>

namespace got {

namespace beast = boost::beast;
using tcp = net::ip::tcp;
// The data path's socket type (backend_stream takes the socket over for TLS probes).
using loop_stream = beast::basic_stream<tcp, loop_executor>;

namespace {

constexpr std::size_t max_probe_reply = 64 * 1024;

// The two streams a probe reads and writes, as (error, bytes).
awaitable<std::tuple<boost::system::error_code, std::size_t>> write_all(loop_stream& s,
                                                                        net::const_buffer b)
{
    return net::async_write(s, b, use_nothrow);
}
awaitable<tls_stream::result> write_all(tls_stream& s, net::const_buffer b)
{
    return s.async_write(b);
}
awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(loop_stream& s,
                                                                        net::mutable_buffer b)
{
    return s.async_read_some(b, use_nothrow);
}
awaitable<tls_stream::result> read_some(tls_stream& s, net::mutable_buffer b)
{
    return s.async_read_some(b);
}

// The Gopher check on a connected stream: the selector, then a reply that must be
// non-empty (and hold `expect`). A TLS reply may end without close_notify here.
template <class Stream>
awaitable<std::string> gopher_probe(Stream& stream, health_config const& h)
{
    std::string request = h.selector + "\r\n";
    auto [wec, wn] = co_await write_all(stream, net::buffer(request));
    if (wec)
        co_return "request: " + wec.message();
    std::string reply;
    std::array<char, 4096> buf;
    for (;;) {
        auto [rec, n] = co_await read_some(stream, net::buffer(buf));
        reply.append(buf.data(), n);
        if (rec == net::error::eof || rec == net::ssl::error::stream_truncated)
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

void count_tls(backend_candidate const& c, backend_tls_outcome o)
{
    c.stats->tls_handshakes[static_cast<std::size_t>(o)].fetch_add(1, std::memory_order_relaxed);
}

// A TLS backend's check after the connect: the handshake (verified as connections are),
// then the Gopher check through TLS, or close_notify when the connect is the check.
awaitable<std::string> tls_probe(backend_candidate const& c, health_config const& h,
                                 backend_stream& backend)
{
    try {
        backend.start_tls(c.tls->native());
    } catch (std::bad_alloc const&) {
        co_return std::string("TLS: out of memory");
    }
    SSL* ssl = backend.tls()->native_handle();
    if (!c.tls->prepare(ssl, c.endpoint.address(), c.name))
        co_return std::string("TLS: cannot set up the session");
    auto ec = co_await backend.tls()->async_handshake(net::const_buffer());
    if (ec) {
        auto f = describe_backend_tls_failure(ssl, ec, c.tls->config().verify);
        count_tls(c, f.verify ? backend_tls_outcome::verify_failed : backend_tls_outcome::failed);
        co_return "TLS handshake: " + f.reason;
    }
    count_tls(c,
              SSL_session_reused(ssl) ? backend_tls_outcome::resumed : backend_tls_outcome::full);
    if (!h.gopher_check) {
        co_await backend.tls()->async_shutdown();
        co_return std::string();
    }
    auto problem = co_await gopher_probe(*backend.tls(), h);
    if (SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN)
        co_await backend.tls()->async_shutdown(); // keeps the session resumable
    co_return problem;
}

// One probe; returns what went wrong, empty when healthy.
awaitable<std::string> probe_once(backend_candidate const& c, health_config const& h)
{
    auto const ex = co_await net::this_coro::executor;
    auto const started = std::chrono::steady_clock::now();
    loop_stream stream(loop_of(ex));
    stream.expires_after(h.timeout); // covers connect, request and reply
    auto [ec] = co_await stream.async_connect(c.endpoint, use_nothrow);
    if (ec)
        co_return "connect: " + ec.message();
    if (!c.tls) {
        if (!h.gopher_check)
            co_return std::string();
        co_return co_await gopher_probe(stream, h);
    }
    stream.expires_never();
    backend_stream backend(ex);
    backend.socket() = stream.release_socket();
    auto const left = h.timeout - (std::chrono::steady_clock::now() - started);
    socket_deadline deadline(backend.socket(), std::max<std::chrono::steady_clock::duration>(
                                                   left, std::chrono::milliseconds(1)));
    auto problem = co_await tls_probe(c, h, backend);
    if (deadline.fired()) {
        if (!backend.tls() || !SSL_is_init_finished(backend.tls()->native_handle())) {
            count_tls(c, backend_tls_outcome::timeout);
            co_return std::string("no TLS handshake in time");
        }
        co_return std::string("no reply in time");
    }
    co_return problem;
}

awaitable<void> probe_loop(std::shared_ptr<runtime const> rt, std::size_t route_index,
                           std::size_t candidate_index, std::shared_ptr<std::atomic<bool>> stopped)
{
    auto const& route = rt->cfg->routes[route_index];
    auto const& h = route.health;
    auto const& c = rt->route_state[route_index].candidates[candidate_index];
    net::steady_timer timer(co_await net::this_coro::executor);
    while (!stopped->load()) {
        std::string problem = co_await probe_once(c, h);
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
