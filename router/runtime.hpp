// One immutable snapshot of everything a connection needs: the config, the route
// table, the TLS contexts and the resolved backends. Sessions hold a
// `std::shared_ptr<runtime const>` for their whole life; a reload builds a new
// snapshot and publishes it, and old ones die with their last session.
#pragma once

#include "common/config.hpp"
#include "common/metrics.hpp"
#include "common/route_table.hpp"
#include "tls_context_registry.hpp"

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <vector>

namespace got {

struct backend_target
{
    std::string name; // as written in the config, for logs
    std::vector<boost::asio::ip::tcp::endpoint> endpoints;
    backend_metrics* stats = nullptr;
};

struct route_runtime
{
    std::vector<backend_target> backends;
    route_metrics* stats = nullptr;
    // Round-robin cursor; the only mutable word in a snapshot (relaxed atomic).
    mutable std::atomic<unsigned> next{0};
};

struct runtime
{
    std::shared_ptr<config const> cfg;
    route_table routes;
    std::unique_ptr<tls_context_registry> tls;
    std::vector<route_runtime> route_state; // parallel to cfg->routes
    int access_log_fd = 2;                  // where this config's access log goes
    unsigned loops = 1;                     // event loops running (for per-loop budgets)

    explicit runtime(std::shared_ptr<config const> c);

    // Makes this snapshot's routes and backends the ones /metrics shows.
    void publish_metrics() const;

    // The backend a new connection on route `index` should try first.
    backend_target const* pick_backend(int route_index) const;
};

// Builds a snapshot: TLS contexts and backend addresses (host names resolved here,
// once). Returns nullptr with `error` set when something cannot be built.
std::shared_ptr<runtime const> build_runtime(std::shared_ptr<config const> cfg, std::string& error);

} // namespace got
