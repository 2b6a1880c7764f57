#include "session.hpp"

#include "access_log.hpp"
#include "common/balancer.hpp"
#include "common/gopher.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "limits.hpp"
#include "listener_context.hpp"
#include "splice.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace got {

namespace beast = boost::beast;
namespace ssl = net::ssl;
using namespace std::chrono_literals;

namespace {

struct session_context
{
    listener_config const& listener;
    listener_metrics& listener_stats;
    runtime const& rt;
    connection_clock clk;
    access_record record;
    unsigned loops = 1; // event loops sharing the handshake budget
    int route_index = -1;
    std::uint64_t client_hash = 0;           // for source_hash balancing
    backend_candidate const* backend = nullptr; // connected to, for the counts
};

// Writes one Gopher error item and ends the stream cleanly. Then reads and discards
// what the client still sends, until its EOF or the deadline: closing a socket with
// unread input sends RST, which can destroy the error item before the client reads it.
template <class Stream>
awaitable<void> reply_error(session_context& s, Stream& client, std::string_view message)
{
    auto item = gopher::error_item(message);
    s.clk.set_fixed(std::min<connection_clock::clock::duration>(s.rt.cfg->timeouts.handshake, 2s));
    auto [ec, n] = co_await net::async_write(client, net::buffer(item), use_nothrow);
    s.record.bytes_out += n;
    if (ec)
        co_return;
    co_await finish_client_write(client);
    std::array<char, 512> sink;
    for (int i = 0; i < 64; ++i) {
        auto [rec, rn] = co_await lowest(client).async_read_some(net::buffer(sink), use_nothrow);
        if (rec)
            break;
    }
}

std::uint64_t client_address_hash(net::ip::address a)
{
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        a = net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6());
    if (a.is_v4()) {
        auto b = a.to_v4().to_bytes();
        return stable_hash(b.data(), b.size());
    }
    auto b = a.to_v6().to_bytes();
    return stable_hash(b.data(), b.size());
}

void count_handshake(handshake_outcome o)
{
    metrics::get().handshakes[static_cast<std::size_t>(o)].fetch_add(1, std::memory_order_relaxed);
}

handshake_outcome classify_failure(SSL* ssl, boost::system::error_code const& ec)
{
    if (handshake_refusal(ssl) == refusal::alpn)
        return handshake_outcome::bad_alpn;
    if (handshake_refusal(ssl) == refusal::unknown_name)
        return handshake_outcome::unrecognized_name;
    if (ec.category() == net::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_NO_SHARED_CIPHER)
        return handshake_outcome::no_shared_cipher;
    return handshake_outcome::failed;
}

void count_negotiated(SSL* ssl, std::string_view alpn)
{
    auto& m = metrics::get();
    int v = SSL_version(ssl);
    (v == TLS1_3_VERSION ? m.tls13 : m.tls12).fetch_add(1, std::memory_order_relaxed);
    auto& c = alpn.empty() ? m.alpn_none : (alpn == "gopher" ? m.alpn_gopher : m.alpn_other);
    c.fetch_add(1, std::memory_order_relaxed);
}

// One connect attempt under timeouts.connect.
awaitable<boost::system::error_code> connect_once(session_context& s, backend_candidate const& c,
                                                  tcp::socket& backend)
{
    beast::tcp_stream stream(co_await net::this_coro::executor);
    stream.expires_after(s.rt.cfg->timeouts.connect);
    auto started = std::chrono::steady_clock::now();
    auto [ec] = co_await stream.async_connect(c.endpoint, use_nothrow);
    if (ec)
        co_return ec;
    auto& route_stats = *s.rt.route_state[static_cast<std::size_t>(s.route_index)].stats;
    route_stats.connect_latency.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    stream.expires_never();
    backend = stream.release_socket();
    boost::system::error_code ignored;
    backend.set_option(tcp::no_delay(true), ignored);
    co_return ec;
}

// Connects to a backend of the route: the balancer's choice, then, after a failed
// connect (which counts against that backend at once), the next eligible one, up to
// `retries` more. No byte has been sent to a backend yet, so retrying is safe.
awaitable<error> connect_backend(session_context& s, tcp::socket& backend)
{
    auto const& route = s.rt.cfg->routes[static_cast<std::size_t>(s.route_index)];
    auto const& rs = s.rt.route_state[static_cast<std::size_t>(s.route_index)];
    std::uint64_t tried = 0;
    error last = error::backend_unavailable;
    for (unsigned attempt = 0; attempt <= route.retries; ++attempt) {
        int i = s.rt.choose_backend(s.route_index, s.client_hash, tried);
        if (i < 0)
            break; // all down, saturated or tried: answer now, no timeout to wait for
        tried |= std::uint64_t{1} << i;
        auto const& c = rs.candidates[static_cast<std::size_t>(i)];
        s.record.backend = c.name;
        auto ec = co_await connect_once(s, c, backend);
        if (!ec) {
            if (route.health.enabled)
                c.state->record(true, route.health.rise, route.health.fall, "connected");
            s.backend = &c;
            c.state->active.fetch_add(1, std::memory_order_relaxed);
            c.stats->active.fetch_add(1, std::memory_order_relaxed);
            co_return error::ok;
        }
        c.stats->connect_errors.fetch_add(1, std::memory_order_relaxed);
        last = ec == beast::error::timeout ? error::backend_timeout : error::backend_unavailable;
        log::debug("backend " + c.name + " of route " + route.name + ": " + ec.message());
        if (route.health.enabled)
            c.state->record(false, route.health.rise, route.health.fall,
                            "connect failed: " + ec.message());
    }
    co_return last;
}

// Route chosen, first request bytes in hand: connect, forward them, splice.
template <class ClientStream>
awaitable<void> relay(session_context& s, ClientStream& client, net::const_buffer first)
{
    auto const& route_name = s.route_index >= 0 ? s.rt.cfg->routes[s.route_index].name : "";
    s.record.route = route_name;
    s.record.bytes_in = first.size(); // read from the client, even if never forwarded
    if (s.route_index >= 0)
        s.rt.route_state[static_cast<std::size_t>(s.route_index)].stats->requests.fetch_add(
            1, std::memory_order_relaxed);
    if (s.route_index < 0) {
        s.record.outcome = error::no_route;
        co_await reply_error(s, client, "No route for this server name");
        co_return;
    }

    tcp::socket backend(co_await net::this_coro::executor);
    // Each attempt has its own timer; this only bounds them all.
    auto const& route = s.rt.cfg->routes[static_cast<std::size_t>(s.route_index)];
    s.clk.set_fixed(s.rt.cfg->timeouts.connect * (route.retries + 1) + 1s);
    if (auto e = co_await connect_backend(s, backend); e != error::ok) {
        s.record.outcome = e;
        co_await reply_error(
            s, client, e == error::backend_timeout ? "Backend timed out" : "Backend unavailable");
        co_return;
    }
    s.clk.backend = &backend;
    s.clk.half_closed = s.rt.cfg->timeouts.half_closed;
    s.clk.set_idle(s.rt.cfg->timeouts.idle);

    splice_state st;
    auto [wec, wn] = co_await net::async_write(backend, first, use_nothrow);
    if (wec) {
        s.record.outcome = error::backend_reset;
        s.clk.backend = nullptr;
        co_return;
    }
    st.bytes_in = wn;
    s.record.bytes_in = 0;
    co_await splice(client, backend, st, s.clk);
    s.clk.backend = nullptr;
    s.record.bytes_in = st.bytes_in;
    s.record.bytes_out = st.bytes_out;
    s.record.outcome = st.outcome;
    auto& route_stats = *s.rt.route_state[static_cast<std::size_t>(s.route_index)].stats;
    route_stats.bytes_in.fetch_add(st.bytes_in, std::memory_order_relaxed);
    route_stats.bytes_out.fetch_add(st.bytes_out, std::memory_order_relaxed);
}

awaitable<void> serve_tls(session_context& s, tcp::socket& socket, beast::flat_buffer& buf)
{
    s.record.transport = "tls";
    s.listener_stats.accepted_tls.fetch_add(1, std::memory_order_relaxed);
    if (!s.listener.tls) {
        s.record.outcome = error::refused_tls;
        co_return;
    }
    ssl::stream<tcp::socket> tls(std::move(socket), s.rt.tls->initial_context());
    s.clk.client = &tls.next_layer();

    auto [hec, used] =
        co_await tls.async_handshake(ssl::stream_base::server, buf.data(), use_nothrow);
    buf.consume(used);
    SSL* native = tls.native_handle();
    s.record.sni = server_name_of(native);
    if (hec) {
        s.record.outcome = s.clk.expired ? error::handshake_timeout : error::handshake_failed;
        count_handshake(s.clk.expired ? handshake_outcome::timeout : classify_failure(native, hec));
        log::debug("TLS handshake from " + s.record.client + ": " + hec.message());
        s.clk.client = nullptr;
        co_return;
    }
    count_handshake(handshake_outcome::ok);
    s.record.tls_version = SSL_get_version(native);
    unsigned char const* alpn = nullptr;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(native, &alpn, &alpn_len);
    s.record.alpn.assign(reinterpret_cast<char const*>(alpn), alpn_len);
    count_negotiated(native, s.record.alpn);

    // The request must follow the handshake promptly (same budget as the handshake).
    s.clk.set_fixed(s.rt.cfg->timeouts.handshake);
    std::array<char, 1024> first;
    auto [rec, n] = co_await tls.async_read_some(net::buffer(first), use_nothrow);
    if (rec) {
        s.record.outcome = is_clean_eof(rec) ? error::client_closed : error::client_reset;
        s.clk.client = nullptr;
        co_return;
    }
    s.route_index = s.rt.routes.match(s.record.sni, s.listener.default_route);
    co_await relay(s, tls, net::buffer(first.data(), n));
    s.clk.client = nullptr;
}

awaitable<void> serve_plain(session_context& s, tcp::socket& socket, beast::flat_buffer& buf)
{
    s.record.transport = "plain";
    s.listener_stats.accepted_plain.fetch_add(1, std::memory_order_relaxed);
    if (!s.listener.plaintext) {
        s.record.outcome = error::refused_plaintext;
        co_await reply_error(s, socket, "This port speaks Gopher over TLS only");
        co_return;
    }
    s.route_index = s.rt.routes.match({}, s.listener.default_route);
    co_await relay(s, socket, buf.data());
}

awaitable<void> serve(session_context& s, tcp::socket& socket)
{
    co_await net::this_coro::throw_if_cancelled(false);
    beast::flat_buffer buf;
    auto [ec, is_tls] = co_await beast::async_detect_ssl(socket, buf, use_nothrow);
    if (ec) {
        s.record.outcome = is_clean_eof(ec) ? error::client_closed : error::client_reset;
        co_return;
    }
    if (is_tls && !take_handshake_token(s.rt.cfg->limits.handshakes_per_second, s.loops)) {
        s.record.transport = "tls";
        s.record.outcome = error::over_limit;
        log_limit_hit(limit_kind::handshakes_per_second,
                      "limits.handshakes_per_second (" +
                          std::to_string(s.rt.cfg->limits.handshakes_per_second) +
                          ") reached: closing new TLS connections");
        co_return;
    }
    if (is_tls)
        co_await serve_tls(s, socket, buf);
    else
        co_await serve_plain(s, socket, buf);
}

} // namespace

awaitable<void> run_session(tcp::socket socket, std::shared_ptr<listener_context const> listener,
                            std::shared_ptr<runtime const> rt, session_counter& counter)
{
    struct active_guard
    {
        session_counter& c;
        ~active_guard()
        {
            c.active.fetch_sub(1, std::memory_order_relaxed);
            metrics::get().active_connections.fetch_sub(1, std::memory_order_relaxed);
        }
    } guard{counter};
    metrics::get().active_connections.fetch_add(1, std::memory_order_relaxed);

    session_context s{listener->config, *listener->stats, *rt, {}, {}};
    s.record.start = std::chrono::steady_clock::now();
    boost::system::error_code ec;
    auto peer = socket.remote_endpoint(ec);
    s.record.client = ec ? "-" : endpoint_text(peer);
    if (!ec)
        s.client_hash = client_address_hash(peer.address());
    s.loops = rt->loops;

    // Per-address cap, counted until the session ends.
    auto per_ip = rt->cfg->limits.max_connections_per_ip;
    struct address_guard
    {
        net::ip::address addr;
        bool held = false;
        ~address_guard()
        {
            if (held)
                address_counts().release(addr);
        }
    } held_address{peer.address()};
    if (!ec) {
        held_address.held = address_counts().try_acquire(peer.address(), per_ip);
        if (!held_address.held) {
            log_limit_hit(limit_kind::max_connections_per_ip,
                          "limits.max_connections_per_ip (" + std::to_string(per_ip) +
                              ") reached for " + peer.address().to_string());
            s.record.outcome = error::over_limit;
            count_outcome(s.record.outcome);
            co_return; // no access line per refused connection: floods stay cheap
        }
    }
    s.record.listener = listener->name;
    s.clk.client = &socket;
    s.clk.set_fixed(rt->cfg->timeouts.handshake);

    using namespace net::experimental::awaitable_operators;
    co_await (serve(s, socket) || watchdog(s.clk));

    if (s.clk.expired && s.record.outcome == error::ok) {
        bool before_request = s.record.backend.empty() && s.record.outcome == error::ok;
        s.record.outcome = before_request ? error::handshake_timeout : error::idle_timeout;
    }
    if (s.backend) {
        s.backend->state->active.fetch_sub(1, std::memory_order_relaxed);
        s.backend->stats->active.fetch_sub(1, std::memory_order_relaxed);
    }
    count_outcome(s.record.outcome);
    write_access_record(s.record, rt->cfg->logging, rt->access_log_fd);
}

} // namespace got
