// The access log: one line per connection when it ends (per request for GoH), as text `key=value`
// pairs or as a JSON object per line (`logging.format`), on stderr or in `logging.access`.
#pragma once

#include "common/config.hpp"
#include "common/error.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <string>

namespace got {

struct access_record
{
    std::chrono::steady_clock::time_point start;
    std::string client;    // address:port, from facts.client when the line is written
    std::string listener;  // as configured
    std::string transport; // plain | tls
    std::string tls_version;
    std::string sni;
    std::string alpn;
    // A client certificate: its subject (RFC 2253) and how its check went: `ok`,
    // `none` (asked, none sent), or the verifier's reason when the handshake failed on it.
    std::string client_subject;
    std::string client_verify;
    std::string route;
    std::string prefix; // the selector prefix that chose the route; empty: none
    std::string backend;
    // A TLS backend's handshake failed: why (shown only then, as `backend_tls`).
    std::string backend_tls_error;
    std::uint64_t bytes_in = 0;  // client -> backend
    std::uint64_t bytes_out = 0; // backend -> client
    error outcome = error::ok;
    // GoH requests (transport goh) only, one line per request: the method, the request
    // path, the status sent (0: none) and the Gopher URL asked for.
    std::string http_method;
    std::string http_path;
    unsigned http_status = 0;
    std::string gopher_url;
};

// `1.2.3.4:56` or `[::1]:56`.
std::string endpoint_text(boost::asio::ip::tcp::endpoint const& ep);

// Formats the record for `cfg.logging` (text or JSON), without the newline.
std::string format_access_record(access_record const& r, logging_config const& cfg);

// Reopens every access-log file (SIGUSR1, after logrotate moved it). Writers keep
// their descriptor number: the new file is dup2()ed over it.
void reopen_access_logs();

// The descriptor to write the access log for this config to, opened once per path
// (stderr when no file is set; -1 with `access: off`). Called when a snapshot is built,
// not per connection.
int access_log_fd(logging_config const& cfg);

// Formats and writes the line to `fd` with one write(2): no lock.
void write_access_record(access_record const& r, logging_config const& cfg, int fd);

} // namespace got
