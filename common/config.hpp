// The typed, immutable configuration model of got-router.
//
// The router never sees YAML: `load_config` (config_loader.hpp) turns a file into a
// `config` value, fully validated, or into a list of problems. A loaded `config`
// is never mutated; a reload builds a new one and publishes it as a new snapshot.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace got {

using duration = std::chrono::milliseconds;

// A `host:port` as written in the config. IPv6 hosts are written in brackets
// (`[::1]:70`); `host` holds them without the brackets.
struct endpoint
{
    std::string host;
    std::uint16_t port = 0;

    // The text form, brackets restored for IPv6: what logs and messages print.
    std::string to_string() const;
    friend bool operator==(endpoint const&, endpoint const&) = default;
};

struct listener_config
{
    endpoint address;
    bool plaintext = true;     // accept plaintext Gopher
    bool tls = true;           // accept Gopher over TLS
    std::string default_route; // plaintext, no SNI, unknown SNI; empty: none
};

struct certificate_config
{
    std::string cert_file; // PEM chain, leaf first
    std::string key_file;  // PEM private key
    bool is_default = false;
    // Lower-case DNS names from the certificate's SAN (CN when there is no SAN).
    // Filled by the loader, which reads the certificate.
    std::vector<std::string> names;
    // Seconds since the epoch of the leaf's notAfter (for metrics and logs).
    std::int64_t not_after = 0;
};

enum class balance_policy
{
    round_robin,
    least_connections,
    random,
    source_hash,
};

struct backend_config
{
    endpoint address;
};

struct route_config
{
    std::string name;
    std::vector<std::string> sni; // lower-case; `*.example.net` matches one label
    std::vector<backend_config> backends;
    balance_policy balance = balance_policy::round_robin;
};

enum class tls_version
{
    tls1_2,
    tls1_3,
};

struct tls_config
{
    std::vector<std::string> alpn{"gopher"}; // protocols we select, in our preference
    bool require_alpn = false;               // refuse clients that offer no ALPN
    tls_version min_version = tls_version::tls1_2;
};

struct timeouts_config
{
    // From accept to a finished TLS handshake (or the first plaintext byte).
    duration handshake = std::chrono::seconds(10);
    // Connecting to one backend.
    duration connect = std::chrono::seconds(5);
    // No byte in either direction for this long ends a connection.
    duration idle = std::chrono::seconds(300);
    // After SIGTERM: how long open connections may take to finish.
    duration shutdown_grace = std::chrono::seconds(30);
};

struct admin_config
{
    std::optional<endpoint> address; // absent: no admin endpoint
};

enum class log_level
{
    debug,
    info,
    warning,
    error,
};

enum class log_format
{
    text,
    json,
};

struct logging_config
{
    log_level level = log_level::info;
    log_format format = log_format::text;
    std::string access; // empty: access log to stderr; else a file path
};

struct config
{
    std::string source; // the file it was loaded from
    unsigned threads = 0; // event loops; 0: one per core
    std::string user;     // drop to this user after binding; empty: stay
    std::string group;    // and this group; empty: the user's primary group
    std::vector<listener_config> listeners;
    std::vector<certificate_config> certificates;
    std::vector<route_config> routes;
    tls_config tls;
    timeouts_config timeouts;
    admin_config admin;
    logging_config logging;

    // The route with this name, or nullptr.
    route_config const* find_route(std::string_view name) const;
    // The certificate marked default, else the first; nullptr when there is none.
    certificate_config const* default_certificate() const;
};

} // namespace got
