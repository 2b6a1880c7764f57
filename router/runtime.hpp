// One immutable snapshot of everything a connection needs: the config, the route
// table, the TLS contexts and the resolved backends. Sessions hold a
// `std::shared_ptr<runtime const>` for their whole life; a reload builds a new
// snapshot and publishes it, and old ones die with their last session.
#pragma once

#include "backend_resolver.hpp"
#include "backend_state.hpp"
#include "backend_tls.hpp"
#include "common/config.hpp"
#include "common/metrics.hpp"
#include "common/route_table.hpp"
#include "ticket_keys.hpp"
#include "tls_context_registry.hpp"

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace got {

// One address to connect to. A backend written as a host name that resolves to
// several addresses gives one candidate per address.
struct backend_candidate
{
    std::string name; // `host:port`, or `host:port/address` when the name had several
    boost::asio::ip::tcp::endpoint endpoint;
    backend_config const* config = nullptr; // weight, backup, max_connections, send_proxy
    std::shared_ptr<backend_state> state;   // shared with later snapshots
    backend_metrics* stats = nullptr;
    std::uint64_t id_hash = 0;
    // Set for a backend with `tls`: its client context, shared by the addresses of
    // one backend entry.
    std::shared_ptr<backend_tls_context const> tls;
};

struct route_runtime
{
    std::vector<backend_candidate> candidates;
    std::vector<std::uint16_t> schedule; // smooth weighted round-robin order
    route_metrics* stats = nullptr;
    std::vector<prefix_metrics*> prefix_stats; // parallel to the route's selector_prefix
    // Round-robin ticket; with the states, the only mutable words of a snapshot.
    mutable std::atomic<std::uint64_t> ticket{0};
};

struct runtime
{
    std::shared_ptr<config const> cfg;
    route_table routes;
    std::unique_ptr<tls_context_registry> tls;
    std::vector<route_runtime> route_state; // parallel to cfg->routes
    // Read from `tls.ticket_keys` when the snapshot was built; put in use only when the
    // snapshot is (apply_ticket_keys), so a reload that fails later changes nothing.
    ticket_keyring::key_list ticket_keys;
    int access_log_fd = 2; // where this config's access log goes
    unsigned loops = 1;    // event loops running (for per-loop budgets)

    explicit runtime(std::shared_ptr<config const> c);

    // Makes this snapshot's routes and backends the ones /metrics shows.
    void publish_metrics() const;

    // Chooses a candidate of route `route_index` for a client, skipping those in
    // `tried_mask`; `ticket` is the connection's round-robin turn (route_runtime::ticket).
    // None when no candidate is eligible (all down, saturated or tried).
    std::optional<std::size_t> choose_backend(std::size_t route_index, std::uint64_t client_hash,
                                              std::uint64_t ticket, std::uint64_t tried_mask) const;
};

// Makes the snapshot's session-ticket keys the process's: the file's keys, or, when
// the file left the config, generated ones again. Called when a snapshot goes live.
void apply_ticket_keys(runtime const& rt);

// Builds a snapshot: TLS contexts and one candidate per backend address (`addresses`
// from backend_resolver, for this same config). Returns nullptr with `error` set when
// something cannot be built.
std::shared_ptr<runtime const> build_runtime(std::shared_ptr<config const> cfg,
                                             backend_addresses const& addresses,
                                             std::string& error);

} // namespace got
