// The inspect stage's result: what is known about a connection before a route is
// chosen. Filled in order (PROXY header, first bytes, TLS handshake, request line);
// once matching starts it is read-only, and the matcher, the handlers and the backend
// link read it instead of the access record.
#pragma once

#include "common/enum_table.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace got {

// How the client speaks to us. Its name is the access log's `transport=` field.
enum class transport
{
    plain,           // plaintext Gopher
    tls,             // TLS terminated here (GoT, or a route's own ALPN protocol)
    tls_passthrough, // TLS passed through to the backend untouched
    goh,             // HTTP requests to the GoH gateway (plaintext or in TLS)
    count_
};

template <>
struct enum_names<transport>
{
    static constexpr std::array<std::string_view, enum_count<transport>> value{
        "plain", "tls", "tls_passthrough", "goh"};
};

// What few connections have (a PROXY header's destination, a selector-routed request,
// a client certificate): made when the first of them is learnt, so that a connection
// without them (an idle TLS one) holds a pointer instead.
struct rare_facts
{
    // Where the client connected to, when a PROXY header said so; otherwise asked of
    // the socket only when a backend wants it (send_proxy).
    std::optional<boost::asio::ip::tcp::endpoint> local;
    // From the request line, when routes are chosen by selector (selector_routing.hpp):
    // the selector without a `;name` suffix, and that name when the listener has
    // selector_vhost (normalised; empty: none).
    std::string selector;
    std::string vhost;
    // A client certificate (a route with `client_ca`), verified by the handshake: its
    // subject (RFC 2253) and first CN; whether this connection's handshake carried it
    // (false: a resumed session began with it), and OpenSSL's verify result (0: verified).
    // An empty subject: no certificate.
    std::string client_subject;
    std::string client_cn;
    bool client_cert_this_connection = false;
    long client_verify = 0;
};

struct connection_facts
{
    // The client: accept(2)'s peer, or the source of a trusted PROXY header.
    boost::asio::ip::tcp::endpoint client;
    std::optional<got::transport> transport; // none until the first bytes are read
    // From the TLS handshake (empty for plaintext): the normalised server name, the
    // protocol version (`TLSv1.3`), the ALPN protocols the client offered, in its order,
    // and the one negotiated.
    std::string sni;
    std::string_view tls_version; // OpenSSL's static text
    std::vector<std::string> alpn_offered;
    std::string alpn;
    // The rest, when any of it is known (rare() makes it).
    std::unique_ptr<rare_facts> rare_ptr;

    rare_facts& rare()
    {
        if (!rare_ptr)
            rare_ptr = std::make_unique<rare_facts>();
        return *rare_ptr;
    }
    std::optional<boost::asio::ip::tcp::endpoint> local() const
    {
        return rare_ptr ? rare_ptr->local : std::nullopt;
    }
    std::string_view selector() const { return rare_ptr ? rare_ptr->selector : std::string_view(); }
    std::string_view vhost() const { return rare_ptr ? rare_ptr->vhost : std::string_view(); }
    // The client certificate's facts (null: none).
    rare_facts const* client_certificate() const
    {
        return rare_ptr && !rare_ptr->client_subject.empty() ? rare_ptr.get() : nullptr;
    }
};

} // namespace got
