// got-router's own error category: how a connection ended, named the same way in
// logs, the access log's `outcome=` field and metrics.
#pragma once

#include <boost/system/error_code.hpp>
#include <string_view>

namespace got {

enum class error
{
    ok = 0,
    no_route,            // no route for the SNI / listener default
    backend_unavailable, // connect refused or unreachable
    backend_timeout,     // connect did not finish within timeouts.connect
    handshake_timeout,   // no first byte / TLS handshake not done in time
    handshake_failed,    // TLS alert, bad ClientHello, ALPN refused
    idle_timeout,        // no traffic either way for timeouts.idle
    client_reset,        // client aborted (RST, or TCP close mid-record)
    backend_reset,       // backend aborted mid-reply
    refused_plaintext,   // plaintext on a listener with plaintext: false
    refused_tls,         // TLS on a listener with tls: false
    client_closed,       // client went away before sending a request
    shutdown,            // cut at the end of the shutdown grace period
    over_limit,          // refused by limits.* (connections, per-IP, handshake rate)
    bad_proxy_header,    // PROXY protocol header missing, malformed or not allowed
    bad_request,         // NUL bytes or an over-long request line
};

boost::system::error_category const& error_category() noexcept;

inline boost::system::error_code make_error_code(error e) noexcept
{
    return {static_cast<int>(e), error_category()};
}

// The short snake_case name (`backend_timeout`) used in logs and metrics.
std::string_view outcome_name(error e) noexcept;

} // namespace got

template <>
struct boost::system::is_error_code_enum<got::error> : std::true_type
{};
