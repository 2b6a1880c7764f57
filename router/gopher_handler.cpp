#include "gopher_handler.hpp"

#include "backend_link.hpp"
#include "splice.hpp"
#include "zero_copy.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>

namespace got {

namespace {

// The backend socket lives in the handler's frame: the clock must not close it after
// the frame is gone.
struct backend_watch
{
    connection_clock& clk;
    ~backend_watch() { clk.backend = nullptr; }
};

} // namespace

template <class Stream>
awaitable<error> handle_gopher(session_state& s, matched_route const& route, Stream& client,
                               net::const_buffer request)
{
    auto const& rs = s.rt.route_state[route.index];
    s.record.route = route.config.name;
    s.record.bytes_in = request.size(); // read from the client, even if never forwarded
    rs.stats->requests.fetch_add(1, std::memory_order_relaxed);

    tcp::socket backend(co_await net::this_coro::executor);
    backend_watch watch{s.clk};
    // (co_await kept out of conditions: GCC 12 miscompiles some of those.)
    error e = co_await connect_backend(s, route, backend);
    if (e != error::ok)
        co_return co_await reply_error(s, client, e,
                                       e == error::backend_timeout ? "Backend timed out"
                                                                   : "Backend unavailable");

    e = co_await send_proxy_header(s, lowest(client), backend);
    if (e != error::ok)
        co_return e;
    auto [wec, wn] = co_await net::async_write(backend, request, use_nothrow);
    if (wec)
        co_return error::backend_reset;
    splice_state st;
    st.bytes_in = wn;
    s.record.bytes_in = 0;
    co_await splice(client, backend, st, s.clk);
    s.record.bytes_in = st.bytes_in;
    s.record.bytes_out = st.bytes_out;
    rs.stats->bytes_in.fetch_add(st.bytes_in, std::memory_order_relaxed);
    rs.stats->bytes_out.fetch_add(st.bytes_out, std::memory_order_relaxed);
    co_return st.outcome;
}

template awaitable<error> handle_gopher(session_state&, matched_route const&, tcp::socket&,
                                        net::const_buffer);
template awaitable<error> handle_gopher(session_state&, matched_route const&, tls_stream&,
                                        net::const_buffer);

} // namespace got
