#include "load.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <openssl/ssl.h>
#include <type_traits>

namespace got::bench {

namespace beast = boost::beast;
namespace ssl = net::ssl;
using namespace std::chrono_literals;

template <class T>
using awaitable = net::awaitable<T>;

namespace {

constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

using plain_stream = beast::tcp_stream;
using tls_stream = ssl::stream<beast::tcp_stream>;

beast::tcp_stream& tcp_layer(plain_stream& s)
{
    return s;
}
beast::tcp_stream& tcp_layer(tls_stream& s)
{
    return s.next_layer();
}

struct request_result
{
    bool failed = false;
    failure kind = failure::connect;
    std::string message;
    std::uint64_t bytes = 0;

    void fail(failure k, boost::system::error_code const& ec)
    {
        failed = true;
        kind = k;
        message = ec.message();
    }
};

// The end of a reply: FIN, or TLS close_notify, or TLS without close_notify.
bool is_end_of_reply(boost::system::error_code const& ec)
{
    return ec == net::error::eof || ec == ssl::error::stream_truncated;
}

void note_handshake(worker& w, tls_stream& s)
{
    auto& st = w.thread.stats;
    st.handshakes.fetch_add(1, std::memory_order_relaxed);
    SSL* native = s.native_handle();
    if (SSL_session_reused(native))
        st.resumed.fetch_add(1, std::memory_order_relaxed);
    if (st.tls_version.empty()) {
        st.tls_version = SSL_get_version(native);
        st.cipher = SSL_get_cipher_name(native);
    }
}

// Connects, and for TLS sets SNI and the session to resume and handshakes.
awaitable<bool> open_connection(worker& w, plain_stream& s, request_result& r)
{
    s.expires_after(w.options.timeout);
    auto [ec] = co_await s.async_connect(w.endpoint, use_nothrow);
    if (ec) {
        r.fail(failure::connect, ec);
        co_return false;
    }
    co_return true;
}

awaitable<bool> open_connection(worker& w, tls_stream& s, request_result& r)
{
    if (!co_await open_connection(w, s.next_layer(), r))
        co_return false;
    SSL* native = s.native_handle();
    if (!w.options.sni.empty())
        SSL_set_tlsext_host_name(native, w.options.sni.c_str());
    if (w.options.resume && w.session)
        SSL_set_session(native, w.session);
    s.next_layer().expires_after(w.options.timeout);
    auto [ec] = co_await s.async_handshake(ssl::stream_base::client, use_nothrow);
    if (ec) {
        r.fail(failure::handshake, ec);
        co_return false;
    }
    note_handshake(w, s);
    co_return true;
}

// Keeps the newest session (TLS 1.3 tickets arrive after the handshake, so this
// runs once the reply has been read).
void keep_session(worker& w, plain_stream&)
{
    (void)w;
}

void keep_session(worker& w, tls_stream& s)
{
    // The reply ended cleanly; without this, freeing the SSL of a connection that
    // sent no close_notify marks its session not resumable. (No close_notify is
    // sent: the server has closed already.)
    SSL_set_shutdown(s.native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    if (!w.options.resume)
        return;
    if (SSL_SESSION* fresh = SSL_get1_session(s.native_handle())) {
        if (w.session)
            SSL_SESSION_free(w.session);
        w.session = fresh;
    }
}

template <class Stream>
awaitable<request_result> one_request(worker& w)
{
    request_result r;
    Stream s = [&] {
        if constexpr (std::is_same_v<Stream, tls_stream>)
            return Stream(w.thread.ioc.get_executor(), *w.thread.tls);
        else
            return Stream(w.thread.ioc.get_executor());
    }();
    if (!co_await open_connection(w, s, r))
        co_return r;

    tcp_layer(s).expires_after(w.options.timeout);
    auto [wec, wn] = co_await net::async_write(s, net::buffer(w.request), use_nothrow);
    if (wec) {
        r.fail(failure::write, wec);
        co_return r;
    }
    for (;;) {
        tcp_layer(s).expires_after(w.options.timeout);
        auto [ec, n] = co_await s.async_read_some(net::buffer(w.buffer), use_nothrow);
        r.bytes += n;
        if (!ec)
            continue;
        if (!is_end_of_reply(ec)) {
            r.fail(failure::read, ec);
            co_return r;
        }
        break;
    }
    if (w.options.expect_bytes && r.bytes != *w.options.expect_bytes) {
        r.failed = true;
        r.kind = failure::short_reply;
        r.message = "got " + std::to_string(r.bytes) + " bytes, expected " +
                    std::to_string(*w.options.expect_bytes);
        co_return r;
    }
    keep_session(w, s);
    co_return r;
}

// Waits, idle, on one held connection until the server closes it or the run ends
// (the io_context is stopped and this frame destroyed).
template <class Stream>
awaitable<void> keep_held(Stream s, thread_stats& st)
{
    tcp_layer(s).expires_never();
    std::array<char, 256> sink;
    for (;;) {
        auto [ec, n] = co_await s.async_read_some(net::buffer(sink), use_nothrow);
        if (ec)
            break;
    }
    st.held.fetch_sub(1, std::memory_order_relaxed);
    st.closed_while_held.fetch_add(1, std::memory_order_relaxed);
}

template <class Stream>
awaitable<void> open_to_hold(worker& w)
{
    request_result r;
    Stream s = [&] {
        if constexpr (std::is_same_v<Stream, tls_stream>)
            return Stream(w.thread.ioc.get_executor(), *w.thread.tls);
        else
            return Stream(w.thread.ioc.get_executor());
    }();
    if (!co_await open_connection(w, s, r)) {
        w.thread.stats.add_failure(r.kind, std::move(r.message));
        co_return;
    }
    w.thread.stats.held.fetch_add(1, std::memory_order_relaxed);
    w.thread.stats.ok.fetch_add(1, std::memory_order_relaxed);
    net::co_spawn(w.thread.ioc, keep_held(std::move(s), w.thread.stats), net::detached);
}

} // namespace

worker::worker(load_thread& t, bench_options const& o, run_control& c, tcp::endpoint ep)
    : thread(t)
    , options(o)
    , control(c)
    , endpoint(std::move(ep))
    , request(o.selector + "\r\n")
    , buffer(o.tls ? 16 * 1024 : 64 * 1024)
{}

worker::~worker()
{
    if (session)
        SSL_SESSION_free(session);
}

std::unique_ptr<ssl::context> make_client_context(bench_options const& o)
{
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    ctx->set_verify_mode(ssl::verify_none);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
    if (!o.alpn.empty()) {
        std::string wire(1, static_cast<char>(o.alpn.size()));
        wire += o.alpn;
        SSL_CTX_set_alpn_protos(native, reinterpret_cast<unsigned char const*>(wire.data()),
                                static_cast<unsigned>(wire.size()));
    }
    return ctx;
}

awaitable<void> run_worker(worker& w)
{
    auto& st = w.thread.stats;
    net::steady_timer backoff(w.thread.ioc);
    while (w.control.take()) {
        auto start = steady::now();
        // Not `c ? co_await a : co_await b`: GCC 12 destroys that result twice.
        request_result r;
        if (w.options.tls)
            r = co_await one_request<tls_stream>(w);
        else
            r = co_await one_request<plain_stream>(w);
        if (r.failed) {
            st.add_failure(r.kind, std::move(r.message));
            st.bytes.fetch_add(r.bytes, std::memory_order_relaxed);
            if (r.kind == failure::connect) {
                // A refusing server answers at once: do not spin on it.
                backoff.expires_after(10ms);
                co_await backoff.async_wait(use_nothrow);
            }
            continue;
        }
        auto micros =
            std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - start).count();
        st.latency.record(static_cast<std::uint64_t>(micros));
        st.bytes.fetch_add(r.bytes, std::memory_order_relaxed);
        st.ok.fetch_add(1, std::memory_order_relaxed);
    }
    w.control.workers_done.fetch_add(1, std::memory_order_relaxed);
}

awaitable<void> run_opener(worker& w)
{
    while (w.control.take()) {
        if (w.options.tls)
            co_await open_to_hold<tls_stream>(w);
        else
            co_await open_to_hold<plain_stream>(w);
    }
    w.control.workers_done.fetch_add(1, std::memory_order_relaxed);
}

} // namespace got::bench
