#include "session.hpp"

#include "access_log.hpp"
#include "common/balancer.hpp"
#include "common/gopher.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/proxy_protocol.hpp"
#include "limits.hpp"
#include "listener_context.hpp"
#include "splice.hpp"
#include "zero_copy.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <optional>

namespace got {

namespace beast = boost::beast;
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
    tcp::endpoint client; // the peer, or the address from a PROXY header
    // Where the client connected to, from a PROXY header or, for send_proxy, the socket
    // (getsockname only when needed).
    std::optional<tcp::endpoint> local;
    std::uint64_t client_hash = 0; // for source_hash balancing
    bool tls = false;
    bool quiet = false; // refused by a limit: no access line (floods stay cheap)
    backend_candidate const* backend = nullptr; // connected to, for the counts

    session_context(listener_config const& l, listener_metrics& ls, runtime const& r,
                    net::any_io_executor ex)
        : listener(l)
        , listener_stats(ls)
        , rt(r)
        , clk(std::move(ex))
    {}
};

std::string proxy_header_for(session_context const& s, proxy_version version);

// Writes one Gopher error item and ends the stream cleanly. Then reads and discards
// what the client still sends, until its EOF or the deadline: closing a socket with
// unread input sends RST, which can destroy the error item before the client reads it.
template <class Stream>
awaitable<void> reply_error(session_context& s, Stream& client, std::string_view message)
{
    auto item = gopher::error_item(message);
    s.clk.set_fixed(std::min<connection_clock::clock::duration>(s.rt.cfg->timeouts.handshake, 2s));
    auto [ec, n] = co_await write_all(client, net::buffer(item));
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
    // One round-robin turn per connection: retries walk on from it, so a dead backend
    // does not take the next connection's turn too.
    std::uint64_t ticket = rs.ticket.fetch_add(1, std::memory_order_relaxed);
    error last = error::backend_unavailable;
    for (unsigned attempt = 0; attempt <= route.retries; ++attempt) {
        int i = s.rt.choose_backend(s.route_index, s.client_hash, ticket, tried);
        if (i < 0)
            break; // all down, saturated or tried: answer now, no timeout to wait for
        tried |= std::uint64_t{1} << i;
        auto const& c = rs.candidates[static_cast<std::size_t>(i)];
        s.record.backend = c.name;
        auto ec = co_await connect_once(s, c, backend);
        if (!ec) {
            // Not a health success: a frozen process still completes connects from its
            // listen backlog; only the active checks bring a backend back.
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
    // (co_await kept out of conditions: GCC 12 miscompiles some of those.)
    error e = co_await connect_backend(s, backend);
    if (e != error::ok) {
        s.record.outcome = e;
        co_await reply_error(
            s, client, e == error::backend_timeout ? "Backend timed out" : "Backend unavailable");
        co_return;
    }
    s.clk.backend = &backend;
    s.clk.half_closed = s.rt.cfg->timeouts.half_closed;
    s.clk.set_idle(s.rt.cfg->timeouts.idle);

    splice_state st;
    if (auto v = s.backend->config->send_proxy; v != proxy_version::none) {
        if (!s.local) {
            boost::system::error_code lec;
            s.local = lowest(client).local_endpoint(lec);
        }
        auto header = proxy_header_for(s, v);
        auto [hec, hn] = co_await net::async_write(backend, net::buffer(header), use_nothrow);
        if (hec) {
            s.record.outcome = error::backend_reset;
            s.clk.backend = nullptr;
            co_return;
        }
    }
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

bool peer_trusted(proxy_protocol_config const& pp, tcp::endpoint const& peer)
{
    auto a = peer.address();
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        a = net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6());
    for (auto const& block : pp.from) {
        if (a.is_v4()) {
            auto b = a.to_v4().to_bytes();
            if (block.contains(false, b.data()))
                return true;
        } else {
            auto b = a.to_v6().to_bytes();
            if (block.contains(true, b.data()))
                return true;
        }
    }
    return false;
}

// Why a read from the client ended before its request: the handshake deadline (the
// clock closed the socket, which reads as operation_aborted), the client's clean close,
// or a reset.
error read_failure(session_context const& s, boost::system::error_code const& ec)
{
    if (s.clk.expired())
        return error::handshake_timeout;
    return is_clean_eof(ec) ? error::client_closed : error::client_reset;
}

// A header's source (the client), or its destination (where the client connected).
tcp::endpoint endpoint_from(proxy_header const& h, bool destination = false)
{
    auto const& address = destination ? h.destination_address : h.source_address;
    auto const port = destination ? h.destination_port : h.source_port;
    if (h.family == proxy_family::tcp4) {
        net::ip::address_v4::bytes_type b;
        std::copy_n(address.begin(), 4, b.begin());
        return {net::ip::address_v4(b), port};
    }
    return {net::ip::address_v6(address), port};
}

// PROXY protocol in: a peer in `from` must send a header first, and its source
// address becomes the client's everywhere; a peer outside `from` must not send one
// (spoofing). The bytes after the header stay in `buf` for the classifier. Bounded:
// a verdict comes by max_proxy_header_size bytes, under the handshake deadline.
awaitable<bool> read_proxy_header(session_context& s, tcp::socket& socket, beast::flat_buffer& buf)
{
    auto const& pp = *s.listener.proxy_protocol;
    bool trusted = peer_trusted(pp, s.client);
    proxy_parse_result r;
    if (!trusted) {
        // Look at what the first read brings, once: a header there is refused
        // (spoofing); anything else, even a prefix of a signature (`\r\n` is one: the
        // empty selector), goes to the classifier. Waiting for more would stall a
        // client whose request is that short; a header sent in pieces is never believed.
        auto [ec, n] = co_await socket.async_read_some(buf.prepare(512), use_nothrow);
        if (ec) {
            s.record.outcome = read_failure(s, ec);
            co_return false;
        }
        buf.commit(n);
        auto data = buf.data();
        r = parse_proxy_header(
            std::span(static_cast<std::uint8_t const*>(data.data()), data.size()));
        if (r.status == proxy_parse_status::done || r.status == proxy_parse_status::invalid) {
            s.record.outcome = error::bad_proxy_header;
            metrics::get().proxy_header_errors.fetch_add(1, std::memory_order_relaxed);
            log::debug("PROXY header from " + s.record.client +
                       ": not in proxy_protocol.from: refused (spoofing)");
            co_return false;
        }
        co_return true;
    }
    for (;;) {
        auto data = buf.data();
        r = parse_proxy_header(
            std::span(static_cast<std::uint8_t const*>(data.data()), data.size()));
        if (r.status != proxy_parse_status::need_more)
            break;
        auto [ec, n] = co_await socket.async_read_some(buf.prepare(512), use_nothrow);
        if (ec) {
            s.record.outcome = is_clean_eof(ec) && buf.size() == 0 ? error::client_closed
                                                                   : error::bad_proxy_header;
            co_return false;
        }
        buf.commit(n);
    }
    auto refuse = [&s](std::string const& why) {
        s.record.outcome = error::bad_proxy_header;
        metrics::get().proxy_header_errors.fetch_add(1, std::memory_order_relaxed);
        log::debug("PROXY header from " + s.record.client + ": " + why);
        return false;
    };
    if (r.status == proxy_parse_status::not_proxy)
        co_return refuse("no header from a trusted peer");
    if (r.status == proxy_parse_status::invalid)
        co_return refuse(std::string(r.reason));
    if ((r.header.version == 1 && !pp.accept_v1) || (r.header.version == 2 && !pp.accept_v2))
        co_return refuse("PROXY v" + std::to_string(r.header.version) + " not accepted");
    buf.consume(r.consumed);
    if (r.header.has_addresses()) {
        s.client = endpoint_from(r.header);
        s.local = endpoint_from(r.header, true); // passed on as received, as HAProxy does
        s.record.client = endpoint_text(s.client);
    }
    if (r.header.authority || r.header.alpn)
        log::debug("PROXY header from " + s.record.client +
                   (r.header.authority ? " authority=" + *r.header.authority : "") +
                   (r.header.alpn ? " alpn=" + *r.header.alpn : ""));
    co_return true;
}

// PROXY protocol out (`send_proxy`): the client's address, and for v2 the SNI as the
// authority TLV and the TLS version in an SSL TLV, as HAProxy sends them.
std::string proxy_header_for(session_context const& s, proxy_version version)
{
    proxy_header h;
    h.command = proxy_command::proxy;
    auto src = s.client.address();
    auto const local = s.local.value_or(tcp::endpoint{});
    auto dst = local.address();
    if (src.is_v6() && src.to_v6().is_v4_mapped())
        src = net::ip::make_address_v4(net::ip::v4_mapped, src.to_v6());
    if (dst.is_v6() && dst.to_v6().is_v4_mapped())
        dst = net::ip::make_address_v4(net::ip::v4_mapped, dst.to_v6());
    if (src.is_v4() && dst.is_v4()) {
        h.family = proxy_family::tcp4;
        auto a = src.to_v4().to_bytes();
        auto b = dst.to_v4().to_bytes();
        std::copy(a.begin(), a.end(), h.source_address.begin());
        std::copy(b.begin(), b.end(), h.destination_address.begin());
    } else {
        h.family = proxy_family::tcp6;
        auto to6 = [](net::ip::address x) {
            return x.is_v4() ? net::ip::make_address_v6(net::ip::v4_mapped, x.to_v4()).to_bytes()
                             : x.to_v6().to_bytes();
        };
        auto a = to6(src);
        auto b = to6(dst);
        std::copy(a.begin(), a.end(), h.source_address.begin());
        std::copy(b.begin(), b.end(), h.destination_address.begin());
    }
    h.source_port = s.client.port();
    h.destination_port = local.port();
    if (version == proxy_version::v1)
        return serialize_proxy_v1(h);
    if (!s.record.sni.empty())
        h.authority = s.record.sni;
    if (s.tls) {
        proxy_ssl_tlv ssl;
        ssl.client = proxy_ssl_client::ssl;
        ssl.version = s.record.tls_version;
        h.ssl = ssl;
    }
    return serialize_proxy_v2(h);
}

// The longest request line accepted: selector, TAB, search words, Gopher+ suffix.
constexpr std::size_t max_request_line = 4096;

// Reads the request line (up to its LF) into `buf` under the connection's deadline,
// before any backend is involved: a client that drips bytes without finishing a line
// is cut at the deadline and never costs a backend connection. A line with NUL bytes
// or longer than max_request_line gets an error item. EOF after some bytes counts as
// the end of the request (the backend decides what to make of it).
template <class Stream>
awaitable<bool> read_request(session_context& s, Stream& client, beast::flat_buffer& buf)
{
    for (;;) {
        auto data = buf.data();
        std::string_view seen(static_cast<char const*>(data.data()), data.size());
        auto lf = seen.find('\n');
        auto line = seen.substr(0, lf);
        if (line.find('\0') != std::string_view::npos) {
            s.record.outcome = error::bad_request;
            co_await reply_error(s, client, "Bad request: NUL byte in the selector");
            co_return false;
        }
        if (lf != std::string_view::npos)
            co_return true;
        if (seen.size() >= max_request_line) {
            s.record.outcome = error::bad_request;
            co_await reply_error(s, client, "Bad request: selector line too long");
            co_return false;
        }
        // Small reads first: an idle client holds only what its request line needs.
        auto want = std::min(max_request_line - seen.size(), seen.size() + 512);
        auto [ec, n] = co_await read_some(client, buf.prepare(want));
        buf.commit(n);
        if (ec) {
            if (is_clean_eof(ec) && buf.size() > 0)
                co_return true;
            s.record.outcome = read_failure(s, ec);
            co_return false;
        }
    }
}

awaitable<void> serve_tls(session_context& s, tcp::socket& socket, beast::flat_buffer& buf)
{
    s.record.transport = "tls";
    s.tls = true;
    s.listener_stats.accepted_tls.fetch_add(1, std::memory_order_relaxed);
    if (!s.listener.tls) {
        s.record.outcome = error::refused_tls;
        co_return;
    }
    tls_stream tls(std::move(socket), s.rt.tls->initial_context().native_handle());
    s.clk.client = &tls.next_layer();

    // The stream keeps its own copy of the classifier's bytes until OpenSSL reads them.
    auto hec = co_await tls.async_handshake(buf.data());
    buf.clear();
    buf.shrink_to_fit();
    SSL* native = tls.native_handle();
    s.record.sni = server_name_of(native);
    if (hec) {
        s.record.outcome = s.clk.expired() ? error::handshake_timeout : error::handshake_failed;
        count_handshake(s.clk.expired() ? handshake_outcome::timeout
                                        : classify_failure(native, hec));
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
    // No request buffer until the request arrives: a connection that sits idle after
    // its handshake holds none. (A failed wait shows again in the read below.)
    if (SSL_has_pending(native) == 0) {
        auto [wec] = co_await tls.next_layer().async_wait(tcp::socket::wait_read, use_nothrow);
        (void)wec;
    }
    beast::flat_buffer request;
    bool have_request = co_await read_request(s, tls, request);
    if (have_request) {
        s.route_index = s.rt.routes.match(s.record.sni, s.listener.default_route);
        co_await relay(s, tls, request.data());
    }
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
    bool have_request = co_await read_request(s, socket, buf);
    if (!have_request)
        co_return;
    s.route_index = s.rt.routes.match({}, s.listener.default_route);
    co_await relay(s, socket, buf.data());
}

// 0x16 is a TLS handshake record and 0x80 an SSLv2-style hello: never the start of a
// selector. When Beast says "not a valid ClientHello" for such bytes, they are refused
// rather than handed to a backend as a selector.
bool looks_like_tls(beast::flat_buffer const& buf)
{
    if (buf.size() == 0)
        return false;
    auto first = static_cast<unsigned char const*>(buf.data().data())[0];
    return first == 0x16 || first == 0x80;
}

// Per-address cap, held until the session ends.
struct address_slot
{
    net::ip::address addr;
    bool held = false;
    address_slot() = default;
    address_slot(address_slot const&) = delete;
    ~address_slot()
    {
        if (held)
            address_counts().release(addr);
    }
};

awaitable<void> serve(session_context& s, tcp::socket& socket)
{
    co_await net::this_coro::throw_if_cancelled(false);
    beast::flat_buffer buf;
    if (s.listener.proxy_protocol) {
        bool accepted = co_await read_proxy_header(s, socket, buf);
        if (!accepted)
            co_return;
    }
    s.client_hash = client_address_hash(s.client.address());

    address_slot slot;
    auto per_ip = s.rt.cfg->limits.max_connections_per_ip;
    slot.addr = s.client.address();
    slot.held = address_counts().try_acquire(slot.addr, per_ip);
    if (!slot.held) {
        log_limit_hit(limit_kind::max_connections_per_ip,
                      "limits.max_connections_per_ip (" + std::to_string(per_ip) +
                          ") reached for " + slot.addr.to_string());
        s.record.outcome = error::over_limit;
        s.quiet = true;
        co_return;
    }

    auto [ec, is_tls] = co_await beast::async_detect_ssl(socket, buf, use_nothrow);
    if (ec) {
        s.record.outcome = read_failure(s, ec);
        co_return;
    }
    if (!is_tls && looks_like_tls(buf)) {
        s.record.transport = "tls";
        s.record.outcome = error::handshake_failed;
        count_handshake(handshake_outcome::failed);
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

awaitable<void> run_session(tcp::socket socket, tcp::endpoint peer,
                            std::shared_ptr<listener_context const> listener,
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

    session_context s(listener->config, *listener->stats, *rt, socket.get_executor());
    s.record.start = std::chrono::steady_clock::now();
    s.record.client = endpoint_text(peer);
    s.client = peer;
    s.loops = rt->loops;

    s.record.listener = listener->name;
    s.clk.client = &socket;
    s.clk.set_fixed(rt->cfg->timeouts.handshake);

    // The clock's callback refers to `s`: stop it before `s` goes, exception or not.
    std::exception_ptr failure;
    try {
        co_await serve(s, socket);
    } catch (...) {
        failure = std::current_exception();
    }
    co_await s.clk.stop();
    if (failure)
        std::rethrow_exception(failure);

    if (s.clk.expired() && s.record.outcome == error::ok) {
        bool before_request = s.record.backend.empty() && s.record.outcome == error::ok;
        s.record.outcome = before_request ? error::handshake_timeout : error::idle_timeout;
    }
    if (s.backend) {
        s.backend->state->active.fetch_sub(1, std::memory_order_relaxed);
        s.backend->stats->active.fetch_sub(1, std::memory_order_relaxed);
    }
    count_outcome(s.record.outcome);
    if (!s.quiet)
        write_access_record(s.record, rt->cfg->logging, rt->access_log_fd);
}

} // namespace got
