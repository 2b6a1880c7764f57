// The typed, immutable configuration model of got-router.
//
// The router never sees YAML: `load_config` (config_loader.hpp) turns a file into a
// `config` value, fully validated, or into a list of problems. A loaded `config`
// is never mutated; a reload builds a new one and publishes it as a new snapshot.
#pragma once

#include "enum_table.hpp"

#include <array>
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

// An address block for `proxy_protocol.from`: `10.0.0.0/8`, `::1/128`, `192.0.2.7`.
struct cidr_block
{
    std::string text; // as written
    bool v6 = false;
    std::array<std::uint8_t, 16> bytes{}; // network order; v4 uses the first 4
    unsigned prefix = 0;

    // Whether `addr` (4 or 16 bytes, network order; v4-mapped v6 counts as v4) is inside.
    bool contains(bool addr_v6, std::uint8_t const* addr) const;
};

// `allow:` / `deny:` on a listener or a route, checked against the client address (the
// PROXY header's source when there is one). Deny wins: an address in any `deny` block is
// refused; otherwise a non-empty `allow` admits only the addresses in its blocks; both
// empty admit everyone. An IPv4-mapped IPv6 client (`::ffff:192.0.2.7`) matches IPv4 blocks.
struct access_lists
{
    std::vector<cidr_block> allow;
    std::vector<cidr_block> deny;

    bool empty() const { return allow.empty() && deny.empty(); }
    // Whether the client at `addr` (4 or 16 bytes, network order) is let in.
    bool permits(bool addr_v6, std::uint8_t const* addr) const;
};

struct proxy_protocol_config
{
    bool accept_v1 = true;
    bool accept_v2 = true;
    std::vector<cidr_block> from; // peers that must send a header; others must not
};

// Gopher over HTTP on a listener (`goh: true` or a map): HTTP requests on the same port
// are answered by the GoH gateway (router/goh_handler.cpp).
struct goh_config
{
    std::string path = "/";        // the endpoint: `GET <path>?url=gopher://...`
    std::string cors_origin = "*"; // Access-Control-Allow-Origin; empty: no CORS headers
    unsigned max_requests = 100;   // requests per HTTP connection before it is closed
    duration keepalive = std::chrono::seconds(15); // idle time between two requests
};

struct listener_config
{
    endpoint address;
    bool plaintext = true;     // accept plaintext Gopher
    bool tls = true;           // accept Gopher over TLS
    std::string default_route; // plaintext, no SNI, unknown SNI; empty: none
    std::optional<proxy_protocol_config> proxy_protocol;
    access_lists access; // refused before any byte is read past the PROXY header
    // A plaintext selector ending in `;name` is routed as if the SNI were `name` (the
    // gophernicus virtual host convention); the suffix stays in the selector.
    bool selector_vhost = false;
    std::optional<goh_config> goh; // none: HTTP is not spoken here (the default)
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
    // The key's algorithm (certificate_info::key_type). Two entries with the same names
    // and different key types are one name's dual certificates, served from one context.
    std::string key_type;
};

enum class balance_policy
{
    round_robin,
    least_connections,
    random,
    source_hash,
    count_
};

template <>
struct enum_names<balance_policy>
{
    static constexpr std::array<std::string_view, enum_count<balance_policy>> value{
        "round_robin", "least_connections", "random", "source_hash"};
};

enum class proxy_version
{
    v1,
    v2,
    none,
    count_
};

template <>
struct enum_names<proxy_version>
{
    static constexpr std::array<std::string_view, enum_count<proxy_version>> value{"v1", "v2",
                                                                                   "none"};
};

// `tls:` on a backend: got-router speaks GoT (TLS) to it. `tls: true` is the short form
// of `tls: {}` (every default). The loader fills `sni` from the backend's host when the
// host is a name and `sni` is not written.
struct backend_tls_config
{
    std::string sni;                         // server name sent; empty: none (an IP)
    std::vector<std::string> alpn{"gopher"}; // protocols offered; empty list: no ALPN
    bool verify = true;                      // chain against `ca`, and the host name/IP
    std::string ca;                          // PEM CA file; empty: the system store
    std::string cert;                        // client certificate (mTLS); empty: none
    std::string key;                         // its private key
    friend bool operator==(backend_tls_config const&, backend_tls_config const&) = default;
};

struct backend_config
{
    endpoint address;             // a host name is resolved at load and on reload
    unsigned weight = 1;          // share of new connections, relative to the others
    bool backup = false;          // used only when no primary backend is healthy
    unsigned max_connections = 0; // 0: no limit
    proxy_version send_proxy = proxy_version::none; // PROXY header before the request
    std::optional<backend_tls_config> tls;          // absent: plaintext Gopher
};

// Active health checks of a route's backends.
struct health_config
{
    bool enabled = false; // true when the route has a `health:` map
    duration interval = std::chrono::seconds(5);
    duration timeout = std::chrono::seconds(2);
    unsigned rise = 2; // successes to come back up
    unsigned fall = 3; // failures to go down
    // Set when `selector` is written, even as "" (the root menu): the check sends this
    // Gopher request. Unset: a TCP connect is the check.
    bool gopher_check = false;
    std::string selector;
    std::string expect; // with a Gopher check: the reply must contain this; empty: any reply
};

enum class tls_version
{
    tls1_2,
    tls1_3,
    count_
};

template <>
struct enum_names<tls_version>
{
    static constexpr std::array<std::string_view, enum_count<tls_version>> value{"1.2", "1.3"};
};

enum class tls_profile
{
    intermediate, // Mozilla intermediate: TLS 1.2 (ECDHE + AEAD) and 1.3
    modern,       // TLS 1.3 only
    count_
};

template <>
struct enum_names<tls_profile>
{
    static constexpr std::array<std::string_view, enum_count<tls_profile>> value{"intermediate",
                                                                                 "modern"};
};

// What a route does with a TLS client: terminate the TLS here and splice the plaintext
// (GoT to a plaintext gopherd), or pass the TLS bytes through untouched.
enum class route_tls_mode
{
    terminate,
    passthrough,
    count_
};

template <>
struct enum_names<route_tls_mode>
{
    static constexpr std::array<std::string_view, enum_count<route_tls_mode>> value{"terminate",
                                                                                    "passthrough"};
};

// `client_auth:` on a route with `client_ca`: whether a client must present a certificate
// (`required`: without one the handshake fails, TLS 1.3's certificate_required alert) or
// may (`optional`); either way a certificate it presents must verify against `client_ca`.
enum class client_auth_mode
{
    required,
    optional,
    count_
};

template <>
struct enum_names<client_auth_mode>
{
    static constexpr std::array<std::string_view, enum_count<client_auth_mode>> value{"required",
                                                                                      "optional"};
};

// `tls:` on a route: the short form `tls: passthrough` or a map. For a terminated route the
// map's settings replace the top-level `tls` ones for the clients that match this route (by
// SNI and ALPN, in the ClientHello), and `client_ca` asks those clients, and only those, for
// a certificate.
struct route_tls_config
{
    route_tls_mode mode = route_tls_mode::terminate;
    std::optional<tls_version> min_version;
    std::optional<tls_profile> profile;
    std::string ciphers;   // empty: the top-level tls.ciphers (or the profile's)
    std::string groups;    // empty: the top-level tls.groups
    std::string client_ca; // PEM file of CA certificates; empty: no client certificate asked
    client_auth_mode client_auth = client_auth_mode::required;

    // Whether any handshake setting differs from the top-level `tls` section.
    bool overrides() const
    {
        return min_version || profile || !ciphers.empty() || !groups.empty() || !client_ca.empty();
    }
};

struct route_config
{
    std::string name;
    std::vector<std::string> sni; // lower-case; `*.example.net` matches one label
    // Matches only clients that offer one of these ALPN protocols (and selects it);
    // empty: any client of the route's names (ALPN as `tls.alpn` says).
    std::vector<std::string> alpn;
    route_tls_config tls;
    std::vector<backend_config> backends;
    balance_policy balance = balance_policy::round_robin;
    health_config health;
    unsigned retries = 2; // further backends tried after a failed connect
    access_lists access;  // refused with an error item (passthrough: closed)
    // Matches only requests whose selector has one of these prefixes (the longest
    // prefix of the route's name wins); empty: the name's fallback.
    std::vector<std::string> selector_prefix;
    bool strip_prefix = false; // the backend gets the selector without the prefix
    // With strip_prefix: menus from the backend point at this address, with the prefix.
    std::optional<endpoint> rewrite_menus;
};

enum class unknown_sni_policy
{
    use_default, // default certificate, listener's default route
    reject,      // unrecognized_name alert
    count_
};

template <>
struct enum_names<unknown_sni_policy>
{
    static constexpr std::array<std::string_view, enum_count<unknown_sni_policy>> value{"default",
                                                                                        "reject"};
};

struct tls_config
{
    std::vector<std::string> alpn{"gopher"}; // protocols we select, in our preference
    bool require_alpn = false;               // refuse clients that offer no ALPN
    tls_version min_version = tls_version::tls1_2;
    tls_profile profile = tls_profile::intermediate;
    unknown_sni_policy unknown_sni = unknown_sni_policy::use_default;
    std::string ciphers; // TLS 1.2 cipher list override; empty: the profile's
    std::string groups = "X25519:P-256:P-384";
    std::string ticket_keys; // file of shared session-ticket keys; empty: rotate our own
    duration ticket_rotation = std::chrono::hours(12);
};

// A rate as the config writes it: `20/s`, `600/m`, `1000/h`. `count` 0: no limit.
struct rate_config
{
    unsigned count = 0;
    duration per = std::chrono::seconds(1);

    // Tokens added per second.
    double per_second() const;
    // The text form, `20/s`: what /config and messages print.
    std::string to_string() const;
    friend bool operator==(rate_config const&, rate_config const&) = default;
};

struct limits_config
{
    unsigned max_connections = 20000;      // all listeners together
    unsigned max_connections_per_ip = 512; // per client address
    unsigned handshakes_per_second = 0;    // TLS handshakes started; 0: no limit
    // New connections per client address: a token bucket per address, refilled at this
    // rate, holding at most `new_connections_burst` tokens (the loader sets it to the
    // rate's count when it is not written).
    rate_config new_connections_per_ip;
    unsigned new_connections_burst = 0;
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
    // Once one side has finished (half-closed), how long the other may take.
    duration half_closed = std::chrono::seconds(30);
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
    count_
};

template <>
struct enum_names<log_level>
{
    static constexpr std::array<std::string_view, enum_count<log_level>> value{"debug", "info",
                                                                               "warning", "error"};
};

enum class log_format
{
    text,
    json,
    count_
};

template <>
struct enum_names<log_format>
{
    static constexpr std::array<std::string_view, enum_count<log_format>> value{"text", "json"};
};

struct logging_config
{
    log_level level = log_level::info;
    log_format format = log_format::text;
    std::string access;      // empty: access log to stderr; else a file path
    bool access_off = false; // `access: off`: no access log at all
};

struct config
{
    std::string source;   // the file it was loaded from
    unsigned threads = 0; // event loops; 0: one per core
    std::string user;     // drop to this user after binding; empty: stay
    std::string group;    // and this group; empty: the user's primary group
    std::vector<listener_config> listeners;
    std::vector<certificate_config> certificates;
    std::vector<route_config> routes;
    tls_config tls;
    limits_config limits;
    timeouts_config timeouts;
    admin_config admin;
    logging_config logging;

    // The route with this name, or nullptr.
    route_config const* find_route(std::string_view name) const;
    // The certificate marked default, else the first; nullptr when there is none.
    certificate_config const* default_certificate() const;
};

} // namespace got
