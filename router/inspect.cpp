#include "inspect.hpp"

#include "common/certificate_info.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/proxy_protocol.hpp"
#include "drained_receive.hpp"
#include "tls_context_registry.hpp"

#include <boost/beast/core/read_size.hpp>
#include <openssl/err.h>
#include <string_view>

namespace got {

namespace beast = boost::beast;

namespace {

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

proxy_parse_result parse(beast::flat_buffer const& buf)
{
    auto data = buf.data();
    return parse_proxy_header(
        std::span(static_cast<std::uint8_t const*>(data.data()), data.size()));
}

error refuse_proxy_header(session_state const& s, std::string const& why)
{
    metrics::get().proxy_header_errors.fetch_add(1, std::memory_order_relaxed);
    log::debug("PROXY header from " + endpoint_text(s.facts.client) + ": " + why);
    return error::bad_proxy_header;
}

// An untrusted peer: look at what the first read brings, once. A header there is
// refused (spoofing); anything else, even a prefix of a signature (`\r\n` is one: the
// empty selector), goes to the classifier. Waiting for more would stall a client whose
// request is that short; a header sent in pieces is never believed.
awaitable<error> refuse_spoofed_header(session_state& s, tcp_socket& socket,
                                       beast::flat_buffer& buf)
{
    auto [ec, n] = co_await socket.async_read_some(buf.prepare(512), use_nothrow);
    if (ec)
        co_return read_failure(s, ec);
    buf.commit(n);
    auto r = parse(buf);
    if (r.status == proxy_parse_status::done || r.status == proxy_parse_status::invalid)
        co_return refuse_proxy_header(s, "not in proxy_protocol.from: refused (spoofing)");
    co_return error::ok;
}

void count_handshake(handshake_outcome o)
{
    metrics::get().handshakes[static_cast<std::size_t>(o)].fetch_add(1, std::memory_order_relaxed);
}

handshake_outcome classify_failure(tls_stream& tls, tls_hello_notes const& notes,
                                   boost::system::error_code const& ec)
{
    if (tls.client_hello_too_large())
        return handshake_outcome::client_hello_too_large;
    if (notes.why == refusal::alpn)
        return handshake_outcome::bad_alpn;
    if (notes.why == refusal::unknown_name)
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

// The client certificate the handshake verified, into the facts and the record.
void note_client_certificate(session_state& s, SSL* ssl)
{
    X509* peer = SSL_get0_peer_certificate(ssl);
    if (!peer) {
        if (SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE)
            s.record.client_verify = "none";
        return;
    }
    auto& f = s.facts.rare();
    f.client_subject = certificate_subject(peer);
    f.client_cn = certificate_common_name(peer);
    f.client_cert_this_connection = !SSL_session_reused(ssl);
    f.client_verify = SSL_get_verify_result(ssl);
    s.record.client_verify =
        f.client_verify == X509_V_OK ? "ok" : X509_verify_cert_error_string(f.client_verify);
}

// Why a handshake that asked for a client certificate failed on it, for the access line.
void note_client_certificate_failure(session_state& s, SSL* ssl)
{
    if (SSL_get_verify_mode(ssl) == SSL_VERIFY_NONE)
        return;
    long result = SSL_get_verify_result(ssl);
    if (result != X509_V_OK)
        s.record.client_verify = X509_verify_cert_error_string(result);
    else if (!SSL_get0_peer_certificate(ssl))
        s.record.client_verify = "none";
}

} // namespace

awaitable<error> read_proxy_header(session_state& s, tcp_socket& socket, beast::flat_buffer& buf)
{
    auto const& pp = *s.listener.config.proxy_protocol;
    if (!peer_trusted(pp, s.facts.client))
        co_return co_await refuse_spoofed_header(s, socket, buf);
    auto r = parse(buf);
    while (r.status == proxy_parse_status::need_more) {
        auto [ec, n] = co_await socket.async_read_some(buf.prepare(512), use_nothrow);
        if (ec)
            co_return is_clean_eof(ec) && buf.size() == 0 ? error::client_closed
                                                          : error::bad_proxy_header;
        buf.commit(n);
        r = parse(buf);
    }
    if (r.status == proxy_parse_status::not_proxy)
        co_return refuse_proxy_header(s, "no header from a trusted peer");
    if (r.status == proxy_parse_status::invalid)
        co_return refuse_proxy_header(s, std::string(r.reason));
    if ((r.header.version == 1 && !pp.accept_v1) || (r.header.version == 2 && !pp.accept_v2))
        co_return refuse_proxy_header(s, "PROXY v" + std::to_string(r.header.version) +
                                             " not accepted");
    buf.consume(r.consumed);
    if (r.header.has_addresses()) {
        s.facts.client = endpoint_from(r.header);
        s.facts.rare().local =
            endpoint_from(r.header, true); // passed on as received, as HAProxy does
    }
    if (r.header.authority || r.header.alpn)
        log::debug("PROXY header from " + endpoint_text(s.facts.client) +
                   (r.header.authority ? " authority=" + *r.header.authority : "") +
                   (r.header.alpn ? " alpn=" + *r.header.alpn : ""));
    co_return error::ok;
}

awaitable<std::tuple<error, first_bytes>> read_first_bytes(session_state& s, tcp_socket& socket,
                                                           beast::flat_buffer& buf)
{
    for (;;) {
        auto data = buf.data();
        auto kind = classify(std::span(static_cast<std::uint8_t const*>(data.data()), data.size()));
        if (kind != first_bytes::need_more) {
            s.facts.transport = kind == first_bytes::plain ? transport::plain : transport::tls;
            s.record.transport = s.facts.transport;
            if (kind == first_bytes::bad_tls) {
                count_handshake(handshake_outcome::failed);
                co_return std::tuple{error::handshake_failed, kind};
            }
            co_return std::tuple{error::ok, kind};
        }
        // Usually there by the time the connection was accepted: read without Asio. The
        // first read has room for a whole ClientHello (OpenSSL's clients pad theirs to
        // 517 bytes, a post-quantum key share makes ~1.8 KB), so it is nearly always a
        // short read, which leaves the socket drained (drained_receive.hpp): the TLS
        // handshake's read after its flight then waits for epoll without a recv that
        // finds nothing (tls_stream::bio_read), as any later read of the client does.
        auto space = buf.prepare(buf.size() == 0 ? 2048 : beast::read_size(buf, 1536));
        auto [ec, n, would_block] = receive_now(socket, space);
        if (!would_block && !ec && n < space.size())
            note_short_read(socket);
        if (would_block)
            std::tie(ec, n) = co_await receive_drained(socket, space);
        if (ec)
            co_return std::tuple{read_failure(s, ec), first_bytes::need_more};
        buf.commit(n);
    }
}

awaitable<error> tls_handshake(session_state& s, tls_stream& tls, tls_hello_notes& notes,
                               beast::flat_buffer& buf)
{
    SSL* native = tls.native_handle();
    // The callbacks see the notes for the handshake's length only. Detached by hand, not
    // by a guard object: at the loops' teardown a suspended frame is destroyed after the
    // session's context, stream included, so a destructor here would touch a freed SSL.
    // An unwinding handshake leaves the pointer behind with no callback left to run.
    attach_hello_notes(native, &notes);
    // The stream keeps its own copy of the classifier's bytes until OpenSSL reads them.
    auto hec = co_await tls.async_handshake(buf.data());
    attach_hello_notes(native, nullptr);
    buf.clear();
    buf.shrink_to_fit();
    s.facts.alpn_offered = std::move(notes.alpn);
    if (tls.stopped_at_client_hello()) {
        s.facts.sni = std::move(notes.name);
        note_passthrough(s);
        co_return error::ok;
    }
    s.facts.sni = server_name_of(native);
    if (hec) {
        count_handshake(s.clk.expired() ? handshake_outcome::timeout
                                        : classify_failure(tls, notes, hec));
        note_client_certificate_failure(s, native);
        log::debug("TLS handshake from " + endpoint_text(s.facts.client) + ": " + hec.message());
        co_return s.clk.expired() ? error::handshake_timeout : error::handshake_failed;
    }
    count_handshake(handshake_outcome::ok);
    s.facts.tls_version = SSL_get_version(native);
    unsigned char const* alpn = nullptr;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(native, &alpn, &alpn_len);
    s.facts.alpn.assign(reinterpret_cast<char const*>(alpn), alpn_len);
    note_client_certificate(s, native);
    count_negotiated(native, s.facts.alpn);
    co_return error::ok;
}

awaitable<client_hello_scan> read_client_hello(tcp_socket& socket, beast::flat_buffer& buf)
{
    constexpr auto cap = tls_stream::max_client_hello;
    for (;;) {
        auto data = buf.data();
        auto scan = scan_client_hello(
            std::span(static_cast<std::uint8_t const*>(data.data()), data.size()), cap);
        if (scan.status != hello_scan::need_more || data.size() >= cap)
            co_return scan;
        // Most ClientHellos came whole with the classifier's read; a large one (a
        // post-quantum key share) takes another.
        auto want = std::min(cap - data.size(), std::max<std::size_t>(1536, data.size()));
        auto [ec, n] = co_await socket.async_read_some(buf.prepare(want), use_nothrow);
        if (ec) {
            scan.status = hello_scan::other;
            co_return scan;
        }
        buf.commit(n);
    }
}

void note_passthrough(session_state& s)
{
    s.facts.transport = transport::tls_passthrough;
    s.record.transport = transport::tls_passthrough;
}

template <class Stream>
awaitable<error> read_request(session_state& s, Stream& client, beast::flat_buffer& buf,
                              request_line_rules rules)
{
    auto const max_request_line = rules.max_line;
    for (;;) {
        auto data = buf.data();
        std::string_view seen(static_cast<char const*>(data.data()), data.size());
        auto lf = seen.find('\n');
        auto line = seen.substr(0, lf);
        if (line.find('\0') != std::string_view::npos)
            co_return co_await reply_error(s, client, error::bad_request,
                                           "Bad request: NUL byte in the selector");
        if (lf != std::string_view::npos)
            co_return error::ok;
        if (seen.size() >= max_request_line)
            co_return co_await reply_error(s, client, error::bad_request,
                                           "Bad request: selector line too long");
        // Small reads first: an idle client holds only what its request line needs.
        auto want = std::min(max_request_line - seen.size(), seen.size() + 512);
        auto [ec, n] = co_await read_some(client, buf.prepare(want));
        buf.commit(n);
        if (ec) {
            if (is_clean_eof(ec) && buf.size() > 0 && !rules.need_line_end)
                co_return error::ok;
            if (is_clean_eof(ec) && buf.size() > 0)
                co_return co_await reply_error(s, client, error::bad_request,
                                               "Bad request: the selector line has no CRLF");
            co_return read_failure(s, ec);
        }
    }
}

bool request_line_ready(beast::flat_buffer const& buf)
{
    auto data = buf.data();
    std::string_view seen(static_cast<char const*>(data.data()), data.size());
    auto lf = seen.find('\n');
    return lf != std::string_view::npos && seen.substr(0, lf).find('\0') == std::string_view::npos;
}

template <class Stream>
awaitable<std::tuple<error, bool>> detect_http(session_state& s, Stream& client,
                                               beast::flat_buffer& buf)
{
    for (;;) {
        auto data = buf.data();
        auto kind =
            classify_plain(std::span(static_cast<std::uint8_t const*>(data.data()), data.size()));
        if (kind != plain_kind::need_more)
            co_return std::tuple{error::ok, kind == plain_kind::http};
        auto [ec, n] = co_await read_some(client, buf.prepare(512));
        buf.commit(n);
        if (ec) {
            if (is_clean_eof(ec) && buf.size() > 0)
                co_return std::tuple{error::ok, false};
            co_return std::tuple{read_failure(s, ec), false};
        }
    }
}

template awaitable<std::tuple<error, bool>> detect_http(session_state&, tcp_socket&,
                                                        beast::flat_buffer&);
template awaitable<std::tuple<error, bool>> detect_http(session_state&, tls_stream&,
                                                        beast::flat_buffer&);
template awaitable<error> read_request(session_state&, tcp_socket&, beast::flat_buffer&,
                                       request_line_rules);
template awaitable<error> read_request(session_state&, tls_stream&, beast::flat_buffer&,
                                       request_line_rules);

} // namespace got
