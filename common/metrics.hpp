// The metrics registry and its Prometheus text exposition (format 0.0.4).
//
// The data path only ever touches relaxed atomics through pointers it got when its
// config snapshot was built (`route_metrics`, `backend_metrics`): no lock, no map
// lookup per connection. Families with labels known only at load time (routes,
// backends, listeners, certificates) are created under a mutex when a snapshot is
// built and are never freed, so the pointers stay valid across reloads; a series
// whose route or backend left the config is dropped from the exposition.
#pragma once

#include "error.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace got {

using counter = std::atomic<std::uint64_t>;
using gauge = std::atomic<std::int64_t>;

// Upper bounds (seconds) of the backend connect latency histogram.
inline constexpr std::array<double, 10> connect_buckets{0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                        0.025,  0.05,  0.1,    0.25,  1.0};

struct latency_histogram
{
    std::array<counter, connect_buckets.size()> buckets{}; // cumulative on exposition
    counter count{0};
    counter sum_microseconds{0};
    void observe(double seconds);
};

struct route_metrics
{
    counter requests{0};
    counter bytes_in{0};  // client -> backend
    counter bytes_out{0}; // backend -> client
    latency_histogram connect_latency;
    std::atomic<bool> in_config{true};
};

// One selector prefix of a route (selector_prefix).
struct prefix_metrics
{
    counter requests{0};        // requests the prefix chose its route for
    counter menus_rewritten{0}; // replies rewritten as menus (rewrite_menus)
    std::atomic<bool> in_config{true};
};

// The `outcome` label of got_router_backend_tls_handshakes_total: how a TLS handshake
// with a backend (`backends[].tls`) ended.
enum class backend_tls_outcome
{
    full,          // done, a new session
    resumed,       // done, a cached session resumed
    verify_failed, // the backend's certificate did not verify
    failed,        // any other handshake failure (alert, no ALPN in common, reset)
    timeout,       // not done within timeouts.connect
    count_
};

template <>
struct enum_names<backend_tls_outcome>
{
    static constexpr std::array<std::string_view, enum_count<backend_tls_outcome>> value{
        "full", "resumed", "verify_failed", "failed", "timeout"};
};

struct backend_metrics
{
    counter connect_errors{0};
    // Data path and health checks alike; shown for backends with `tls` only.
    std::array<counter, enum_count<backend_tls_outcome>> tls_handshakes{};
    std::atomic<bool> tls{false};
    gauge active{0};
    // got_router_backend_up is read at scrape time from the health flag it reports
    // (router/backend_state's `up`), never copied: a copy made while a snapshot is
    // built can lose a transition that races with it. Guarded by the registry's mutex
    // (set by report_backend_up); expired or unset: reported as up, the initial state.
    std::weak_ptr<std::atomic<bool> const> up_source;
    std::atomic<bool> in_config{true};
};

struct listener_metrics
{
    counter accepted_plain{0};
    counter accepted_tls{0};
    counter accepted_goh{0}; // plaintext or TLS connections handed to the GoH gateway
    std::atomic<bool> in_config{true};
};

enum class handshake_outcome
{
    ok,
    timeout,
    failed, // protocol error, bad record, client alert
    no_shared_cipher,
    bad_alpn, // ALPN offered without ours, or required and missing
    unrecognized_name,
    client_hello_too_large, // over tls_stream::max_client_hello before it was complete
    count_
};

template <>
struct enum_names<handshake_outcome>
{
    static constexpr std::array<std::string_view, enum_count<handshake_outcome>> value{
        "ok",
        "timeout",
        "failed",
        "no_shared_cipher",
        "bad_alpn",
        "unrecognized_name",
        "client_hello_too_large"};
};

// The `limit` label of got_router_limit_hits_total: which of `limits:` refused, or which
// `allow:`/`deny:` lists (a listener's, a route's) did.
enum class limit_kind
{
    max_connections,
    max_connections_per_ip,
    handshakes_per_second,
    new_connections_per_ip,
    listener_deny,
    route_deny,
    count_
};

template <>
struct enum_names<limit_kind>
{
    static constexpr std::array<std::string_view, enum_count<limit_kind>> value{
        "max_connections",        "max_connections_per_ip", "handshakes_per_second",
        "new_connections_per_ip", "listener_deny",          "route_deny"};
};

// The `status` label of got_router_goh_requests_total: the statuses the GoH gateway sends.
inline constexpr std::array<unsigned, 9> goh_statuses{200, 400, 403, 404, 405, 431, 502, 504, 0};

class metrics
{
public:
    static metrics& get();

    // Process-wide counters.
    gauge active_connections{0};
    std::array<counter, enum_count<error>> connections_closed{}; // by outcome
    std::array<counter, enum_count<handshake_outcome>> handshakes{};
    counter tls12{0}, tls13{0};
    counter alpn_gopher{0}, alpn_none{0}, alpn_other{0};
    counter reloads_ok{0}, reloads_failed{0};
    counter proxy_header_errors{0};               // PROXY headers missing, malformed or refused
    std::atomic<double> last_reload_seconds{0};   // duration of the last load
    std::atomic<double> last_reload_timestamp{0}; // unix time of the last success
    std::array<counter, enum_count<limit_kind>> limit_hits{};
    std::array<counter, goh_statuses.size()> goh_requests{}; // by goh_statuses' index

    // Stable pointers; marks every other series of that family as not in config.
    route_metrics* route(std::string const& name);
    backend_metrics* backend(std::string const& route, std::string const& address);
    prefix_metrics* prefix(std::string const& route, std::string const& prefix);
    listener_metrics* listener(std::string const& address);
    // The health flag `b`'s got_router_backend_up reads at scrape time (not owned).
    void report_backend_up(backend_metrics* b, std::shared_ptr<std::atomic<bool> const> up);
    // Call before a new snapshot registers its series (marks all as gone).
    void begin_config();
    void set_certificates(std::vector<std::pair<std::string, std::int64_t>> expiry);

    // The whole exposition, text format 0.0.4.
    std::string render() const;

private:
    metrics();
    mutable std::mutex mutex_;
    double start_time_;
    std::map<std::string, std::unique_ptr<route_metrics>> routes_;
    std::map<std::pair<std::string, std::string>, std::unique_ptr<backend_metrics>> backends_;
    std::map<std::pair<std::string, std::string>, std::unique_ptr<prefix_metrics>> prefixes_;
    std::map<std::string, std::unique_ptr<listener_metrics>> listeners_;
    std::vector<std::pair<std::string, std::int64_t>> certificates_;
};

void count_outcome(error e);

// One GoH response with this HTTP status (0: none was sent, the request was cut short).
void count_goh_response(unsigned status);

} // namespace got
