#include "backend_link.hpp"

#include "common/balancer.hpp"
#include "common/log.hpp"
#include "common/proxy_protocol.hpp"
#include "drained_receive.hpp"
#include "fresh_socket.hpp"
#include "zero_copy.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <sys/socket.h>
#include <tuple>
#include <type_traits>

namespace got {

using namespace std::chrono_literals;

namespace {

net::ip::address unmapped(net::ip::address a)
{
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6());
    return a;
}

// The start of one connect attempt on the closed socket `backend`: opened non-blocking
// (fresh_socket.hpp), TCP_NODELAY set before the connect. `pending`: the connect is
// under way and its outcome is read once the socket is writable (connect_backend waits
// for it, in its own frame: no coroutine per attempt).
//
// A connect to a backend on the same host has nearly always completed by the time
// connect(2) returns EINPROGRESS (the loopback handshake runs inside the call), so it
// is asked at once with a send: the kernel answers 0 or more once established, EAGAIN
// while the handshake is under way, the connect's error (ECONNREFUSED) when it failed.
// The send carries the caller's early bytes when the backend takes them first (no
// PROXY header, no TLS), else none. One system call then replaces the wait, its turn of
// the loop, the getsockopt(SO_ERROR) after it and, with early bytes, the first write; a
// remote backend pays that one call and waits as before.
//
// The socket is registered for EPOLLOUT (the wait) and EPOLLRDHUP (a spliced reply's
// short reads mark it drained, drained_receive.hpp) from the first: no epoll_ctl(MOD).
struct connect_start
{
    boost::system::error_code ec;
    bool pending = false;
};

connect_start start_connect(backend_candidate const& c, tcp_socket& backend, early_bytes* early)
{
    connect_start r;
    open_fresh(backend, c.endpoint.protocol(), r.ec);
    if (r.ec)
        return r;
    boost::system::error_code ignored;
    backend.set_option(tcp::no_delay(true), ignored);
    int const fd = backend.native_handle();
    if (::connect(fd, c.endpoint.data(), static_cast<socklen_t>(c.endpoint.size())) != 0) {
        if (errno != EINPROGRESS) {
            r.ec = boost::system::error_code(errno, boost::system::system_category());
            return r;
        }
        bool const takes_early = early && c.config->send_proxy == proxy_version::none && !c.tls;
        char const none = 0;
        auto const n = takes_early ? ::send(fd, early->bytes.data(), early->bytes.size(),
                                            MSG_DONTWAIT | MSG_NOSIGNAL)
                                   : ::send(fd, &none, 0, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                r.pending = true;
                return r;
            }
            r.ec = boost::system::error_code(errno, boost::system::system_category());
            return r;
        }
        if (takes_early)
            early->sent = static_cast<std::size_t>(n);
    }
    return r;
}

// A finished connect's outcome, with one getsockopt (Asio's async_connect adds a poll
// before it).
boost::system::error_code connect_outcome(tcp_socket& backend)
{
    int err = 0;
    socklen_t length = sizeof err;
    if (::getsockopt(backend.native_handle(), SOL_SOCKET, SO_ERROR, &err, &length) != 0)
        err = errno;
    return boost::system::error_code(err, boost::system::system_category());
}

// The first bytes to a plaintext backend with one send(2), outside Asio: a request line
// fits the socket's buffer, so this costs no operation, no initiation frame and no turn
// of the loop. Returns what was sent (0 when the buffer is full: Asio's write takes
// the rest) or the error.
std::tuple<boost::system::error_code, std::size_t> send_now(tcp_socket& backend,
                                                            net::const_buffer b)
{
    auto const n = ::send(backend.native_handle(), b.data(), b.size(), MSG_NOSIGNAL);
    boost::system::error_code ec;
    if (n >= 0)
        return {ec, static_cast<std::size_t>(n)};
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        ec.assign(errno, boost::system::system_category());
    return {ec, std::size_t{0}};
}

void hold(session_state& s, backend_candidate const& c)
{
    s.backend = &c;
    c.state->active.fetch_add(1, std::memory_order_relaxed);
    c.stats->active.fetch_add(1, std::memory_order_relaxed);
}

} // namespace

std::uint64_t client_address_hash(net::ip::address a)
{
    a = unmapped(a);
    if (a.is_v4()) {
        auto b = a.to_v4().to_bytes();
        return stable_hash(b.data(), b.size());
    }
    auto b = a.to_v6().to_bytes();
    return stable_hash(b.data(), b.size());
}

awaitable<error> connect_backend(session_state& s, matched_route const& route, tcp_socket& backend,
                                 early_bytes* early)
{
    auto const& rc = route.config;
    auto const& rs = s.rt.route_state[route.index];
    s.phase = session_phase::with_backend;
    // Each attempt has its own deadline; this only bounds them all.
    s.clk.extend_fixed(s.rt.cfg->timeouts.connect * (rc.retries + 1) + 1s);
    auto const client_hash = client_address_hash(s.facts.client.address());
    std::uint64_t tried = 0;
    // One round-robin turn per connection: retries walk on from it, so a dead backend
    // does not take the next connection's turn too.
    std::uint64_t ticket = rs.ticket.fetch_add(1, std::memory_order_relaxed);
    error last = error::backend_unavailable;
    for (unsigned attempt = 0; attempt <= rc.retries; ++attempt) {
        auto i = s.rt.choose_backend(route.index, client_hash, ticket, tried);
        if (!i)
            break; // all down, saturated or tried: answer now, no timeout to wait for
        tried |= std::uint64_t{1} << *i;
        auto const& c = rs.candidates[*i];
        s.record.routed->backend = c.name;
        // One attempt under timeouts.connect (the clock's attempt deadline).
        auto const started = std::chrono::steady_clock::now();
        auto [ec, pending] = start_connect(c, backend, early);
        if (pending) {
            s.clk.start_attempt(backend, s.rt.cfg->timeouts.connect);
            auto [wec] = co_await backend.async_wait(tcp_socket::wait_write, use_nothrow);
            if (s.clk.end_attempt())
                ec = net::error::timed_out;
            else if (wec)
                ec = wec; // the session's own deadline closed it
            else
                ec = connect_outcome(backend);
        }
        if (!ec) {
            rs.stats->connect_latency.observe(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
            // Not a health success: a frozen process still completes connects from its
            // listen backlog; only the active checks bring a backend back.
            hold(s, c);
            s.clk.backend = &backend;
            s.clk.half_closed = s.rt.cfg->timeouts.half_closed;
            s.clk.set_idle(s.rt.cfg->timeouts.idle);
            co_return error::ok;
        }
        boost::system::error_code ignored;
        backend.close(ignored); // the next attempt opens a new socket
        c.stats->connect_errors.fetch_add(1, std::memory_order_relaxed);
        last = ec == net::error::timed_out ? error::backend_timeout : error::backend_unavailable;
        log::debug("backend " + c.name + " of route " + rc.name + ": " + ec.message());
        if (rc.health.enabled)
            c.state->record(false, rc.health.rise, rc.health.fall,
                            "connect failed: " + ec.message());
    }
    co_return last;
}

bool backend_wants_proxy_header(session_state const& s)
{
    return s.backend->config->send_proxy != proxy_version::none;
}

bool backend_needs_opening(session_state const& s)
{
    return backend_wants_proxy_header(s) || s.backend->tls;
}

awaitable<error> send_proxy_header(session_state& s, tcp_socket& client, tcp_socket& backend)
{
    auto const version = s.backend->config->send_proxy;
    if (version == proxy_version::none)
        co_return error::ok;
    auto local = s.facts.local();
    if (!local) {
        boost::system::error_code ignored;
        local = client.local_endpoint(ignored);
    }
    auto header = proxy_header_for(s.facts, *local, version);
    auto [ec, n] = co_await net::async_write(backend, net::buffer(header), use_nothrow);
    co_return ec ? error::backend_reset : error::ok;
}

namespace {

void count_tls(session_state& s, backend_tls_outcome o)
{
    s.backend->stats->tls_handshakes[static_cast<std::size_t>(o)].fetch_add(
        1, std::memory_order_relaxed);
}

error tls_failed(session_state& s, route_config const& rc, backend_tls_outcome o,
                 std::string reason)
{
    count_tls(s, o);
    auto const& c = *s.backend;
    log::debug("backend " + c.name + ": TLS handshake: " + reason);
    s.record.routed->backend_tls_error = reason;
    if (rc.health.enabled)
        c.state->record(false, rc.health.rise, rc.health.fall, "TLS handshake: " + reason);
    switch (o) {
    case backend_tls_outcome::verify_failed:
        return error::backend_tls_verify;
    case backend_tls_outcome::timeout:
        return error::backend_timeout;
    default:
        return error::backend_tls_failed;
    }
}

} // namespace

error backend_refused_late(session_state& s, std::string& reason,
                           boost::system::error_code const& ec)
{
    count_tls(s, backend_tls_outcome::failed);
    reason = ec.message();
    return error::backend_tls_failed;
}

std::string_view backend_failure_text(error e)
{
    switch (e) {
    case error::backend_timeout:
        return "Backend timed out";
    case error::backend_tls_verify:
        return "Backend TLS verification failed";
    case error::backend_tls_failed:
        return "Backend TLS handshake failed";
    default:
        return "Backend unavailable";
    }
}

awaitable<error> open_backend(session_state& s, matched_route const& route, tcp_socket& client,
                              backend_stream& backend)
{
    auto const& rc = route.config;
    auto e = error::ok;
    if (backend_wants_proxy_header(s))
        e = co_await send_proxy_header(s, client, backend.socket());
    auto const* ctx = s.backend->tls.get();
    if (e != error::ok || !ctx)
        co_return e;
    try {
        backend.start_tls(ctx->native());
    } catch (std::bad_alloc const&) {
        co_return tls_failed(s, rc, backend_tls_outcome::failed, "out of memory");
    }
    s.clk.backend = &backend.socket();
    SSL* ssl = backend.tls()->native_handle();
    if (!ctx->prepare(ssl, s.backend->endpoint.address(), s.backend->name))
        co_return tls_failed(s, rc, backend_tls_outcome::failed, "cannot set up the TLS session");
    boost::system::error_code ec;
    bool timed_out = false;
    {
        socket_deadline deadline(backend.socket(), s.rt.cfg->timeouts.connect);
        ec = co_await backend.tls()->async_handshake(net::const_buffer());
        timed_out = deadline.fired();
    }
    if (timed_out)
        co_return tls_failed(s, rc, backend_tls_outcome::timeout, "no TLS handshake in time");
    if (ec) {
        auto f = describe_backend_tls_failure(ssl, ec, ctx->config().verify);
        co_return tls_failed(
            s, rc, f.verify ? backend_tls_outcome::verify_failed : backend_tls_outcome::failed,
            f.reason);
    }
    count_tls(s,
              SSL_session_reused(ssl) ? backend_tls_outcome::resumed : backend_tls_outcome::full);
    co_return error::ok;
}

template <class ClientStream>
awaitable<error> forward_and_splice(session_state& s, route_runtime const& rs, ClientStream& client,
                                    backend_stream& backend, net::const_buffer first,
                                    std::size_t already_sent, bulk_path bulk)
{
    boost::system::error_code wec;
    std::size_t wn = already_sent;
    if (!backend.tls() && wn < first.size()) {
        std::tie(wec, wn) = send_now(backend.socket(), first + wn);
        wn += already_sent;
    }
    if (!wec && wn < first.size()) {
        auto [rec, rn] = co_await write_all(backend, first + wn);
        wec = rec;
        wn += rn;
    }
    if (wec)
        co_return error::backend_reset;
    splice_state st;
    st.bytes_in = wn;
    s.record.routed->bytes_in = 0;
    // Plaintext on both sides: zero_copy.cpp's splice-auto pumps; else the buffered ones.
    bool zero_copy = false;
    if constexpr (std::is_same_v<ClientStream, tcp_socket>)
        zero_copy = backend.tls() == nullptr;
    if (zero_copy)
        co_await splice(lowest(client), backend.socket(), st, s.clk, bulk);
    else
        co_await splice(client, backend, st, s.clk);
    if (backend_sends_close_notify(backend))
        co_await finish_backend(backend);
    co_return account_splice(s, rs, st);
}

error account_splice(session_state& s, route_runtime const& rs, splice_state const& st)
{
    if (st.outcome == error::backend_tls_failed && s.backend) {
        count_tls(s, backend_tls_outcome::failed); // refused after our Finished (TLS 1.3)
        s.record.routed->backend_tls_error = st.backend_tls_error.message();
        log::debug("backend " + s.backend->name + ": TLS: " + s.record.routed->backend_tls_error);
    }
    s.record.routed->bytes_in = st.bytes_in;
    s.record.routed->bytes_out = st.bytes_out;
    rs.stats->bytes_in.fetch_add(st.bytes_in, std::memory_order_relaxed);
    rs.stats->bytes_out.fetch_add(st.bytes_out, std::memory_order_relaxed);
    return st.outcome;
}

template awaitable<error> forward_and_splice(session_state&, route_runtime const&, tcp_socket&,
                                             backend_stream&, net::const_buffer, std::size_t,
                                             bulk_path);
template awaitable<error> forward_and_splice(session_state&, route_runtime const&, tls_stream&,
                                             backend_stream&, net::const_buffer, std::size_t,
                                             bulk_path);

std::string proxy_header_for(connection_facts const& f, tcp::endpoint const& local,
                             proxy_version version)
{
    proxy_header h;
    h.command = proxy_command::proxy;
    auto const src = unmapped(f.client.address());
    auto const dst = unmapped(local.address());
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
    h.source_port = f.client.port();
    h.destination_port = local.port();
    if (version == proxy_version::v1)
        return serialize_proxy_v1(h);
    if (!f.sni.empty())
        h.authority = f.sni;
    if (f.transport == transport::tls) {
        proxy_ssl_tlv ssl;
        ssl.client = proxy_ssl_client::ssl;
        ssl.version = f.tls_version;
        // As HAProxy sends them: CERT_SESS when the session has a client certificate,
        // CERT_CONN when this connection's handshake carried it, verify its result.
        if (auto const* cert = f.client_certificate()) {
            ssl.client |= proxy_ssl_client::cert_sess;
            if (cert->client_cert_this_connection)
                ssl.client |= proxy_ssl_client::cert_conn;
            ssl.verify = static_cast<std::uint32_t>(cert->client_verify);
            if (!cert->client_cn.empty())
                ssl.sub_tlvs.push_back({proxy_tlv_type::ssl_cn, cert->client_cn});
        }
        h.ssl = ssl;
    }
    return serialize_proxy_v2(h);
}

} // namespace got
