// The access log: one line per connection when it ends (per request for GoH), as text `key=value`
// pairs or as a JSON object per line (`logging.format`), on stderr or in `logging.access`.
#pragma once

#include "common/config.hpp"
#include "common/error.hpp"
#include "connection_facts.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace got {

// The GoH request a line is for (transport goh, one line per request): the method, the
// request path, the status sent and the Gopher URL asked for. Views of the exchange's
// own strings, alive while its line is written.
struct http_request_fields
{
    std::string_view method;
    std::string_view path;
    unsigned status = 0;
    std::string_view url;
};

// What handling a request notes for the line: the route, the backend and the counts.
// It lives in the frame of the coroutine that handles the request (run_session, or
// serve_request after a parked wait), not in the session: a TLS connection parked
// before its request holds no room for it.
struct routed_record
{
    std::string_view route;
    std::string_view prefix; // the selector prefix that chose the route; empty: none
    std::string_view backend;
    // A TLS backend's handshake failed: why (shown only then, as `backend_tls`).
    std::string backend_tls_error;
    std::uint64_t bytes_in = 0;                // client -> backend
    std::uint64_t bytes_out = 0;               // backend -> client
    http_request_fields const* http = nullptr; // a GoH request's line (shown with a status)
};

// What a connection's line says beyond its connection_facts (the client, the TLS facts,
// the SNI and the ALPN come from those when the line is written). It lives in every
// session, idle ones too, so it copies nothing the facts or the configuration hold: the
// names are views of the session's listener and runtime snapshot, which outlive it.
struct access_record
{
    std::chrono::steady_clock::time_point start;
    std::string_view listener;               // as configured
    std::optional<got::transport> transport; // how the client speaks; goh for GoH requests
    error outcome = error::ok;
    // A client certificate's check: `ok`, `none` (asked, none sent), or OpenSSL's verifier
    // reason (its static text) when the handshake failed on it; the subject is a fact.
    std::string_view client_verify;
    // The request's part (null: none, as while a connection is parked; the line then
    // shows its fields empty).
    routed_record* routed = nullptr;
};

// `1.2.3.4:56` or `[::1]:56`.
std::string endpoint_text(boost::asio::ip::tcp::endpoint const& ep);

// Formats the record and the connection's facts for `cfg.logging` (text or JSON),
// without the newline.
std::string format_access_record(access_record const& r, connection_facts const& f,
                                 logging_config const& cfg);

// Reopens every access-log file (SIGUSR1, after logrotate moved it). Writers keep
// their descriptor number: the new file is dup2()ed over it.
void reopen_access_logs();

// The descriptor to write the access log for this config to, opened once per path
// (stderr when no file is set; -1 with `access: off`). Called when a snapshot is built,
// not per connection.
int access_log_fd(logging_config const& cfg);

// Formats and writes the line to `fd` with one write(2): no lock.
void write_access_record(access_record const& r, connection_facts const& f,
                         logging_config const& cfg, int fd);

} // namespace got
