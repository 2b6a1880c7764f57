// How a connection ended: one value per outcome, named the same way in the access
// log's `outcome=` field, `got_router_connections_closed_total{outcome}` and the debug
// log. The names live in one table (enum_table.hpp), so a new outcome is one enum value
// and one name; the metric array takes its size from the enum.
#pragma once

#include "enum_table.hpp"

#include <string_view>

namespace got {

enum class error
{
    ok = 0,
    no_route,            // no route for the SNI / listener default
    backend_unavailable, // connect refused or unreachable
    backend_timeout,     // connect did not finish within timeouts.connect
    handshake_timeout,   // no first byte / TLS handshake / request not done in time
    handshake_failed,    // TLS alert, bad ClientHello, ALPN refused
    idle_timeout,        // no traffic either way for timeouts.idle
    client_reset,        // client aborted (RST, or TCP close mid-record)
    backend_reset,       // backend aborted mid-reply
    refused_plaintext,   // plaintext on a listener with plaintext: false
    refused_tls,         // TLS on a listener with tls: false
    client_closed,       // client went away before sending a request
    over_limit,          // refused by limits.* (connections, per-IP, handshake rate)
    bad_proxy_header,    // PROXY protocol header missing, malformed or not allowed
    bad_request,         // NUL bytes or an over-long request line
    denied,              // refused by a listener's or a route's allow/deny lists
    backend_tls_verify,  // a TLS backend's certificate did not verify (name, chain)
    backend_tls_failed,  // the TLS handshake with a backend failed otherwise
    count_
};

template <>
struct enum_names<error>
{
    static constexpr std::array<std::string_view, enum_count<error>> value{
        "ok",
        "no_route",
        "backend_unavailable",
        "backend_timeout",
        "handshake_timeout",
        "handshake_failed",
        "idle_timeout",
        "client_reset",
        "backend_reset",
        "refused_plaintext",
        "refused_tls",
        "client_closed",
        "over_limit",
        "bad_proxy_header",
        "bad_request",
        "denied",
        "backend_tls_verify",
        "backend_tls_failed",
    };
};

// The short snake_case name (`backend_timeout`) used in logs and metrics.
constexpr std::string_view outcome_name(error e) noexcept
{
    return name_of(e);
}

} // namespace got
