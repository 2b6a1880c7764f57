#include "runtime.hpp"

#include "access_log.hpp"
#include "common/balancer.hpp"
#include "common/log.hpp"
#include "ticket_keys.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <thread>

namespace got {

namespace net = boost::asio;
using tcp = net::ip::tcp;

runtime::runtime(std::shared_ptr<config const> c)
    : cfg(std::move(c))
    , routes(*cfg)
    , route_state(cfg->routes.size())
{}

namespace {

std::uint64_t next_random()
{
    // xorshift64*, one per thread: the random policy needs speed, not secrecy.
    thread_local std::uint64_t x = stable_hash(
        &x, sizeof x,
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    return x * 2685821657736338717ULL;
}

} // namespace

std::optional<std::size_t> runtime::choose_backend(std::size_t route_index,
                                                   std::uint64_t client_hash, std::uint64_t ticket,
                                                   std::uint64_t tried_mask) const
{
    if (route_index >= route_state.size())
        return std::nullopt;
    auto const& rs = route_state[route_index];
    auto const& rc = cfg->routes[route_index];
    // Room for 64 views, of which only the route's own are written: value-initialising all
    // 64 (2.5 KiB) cost more than the choice itself on a one-backend route.
    constexpr std::size_t room_for = 64;
    union view_room
    {
        view_room() {}
        candidate_view views[room_for];
    } room;
    auto* const views = room.views;
    std::size_t n = std::min(rs.candidates.size(), room_for);
    for (std::size_t i = 0; i < n; ++i) {
        auto const& c = rs.candidates[i];
        std::construct_at(&views[i], candidate_view{c.config->weight, c.config->backup,
                                                    c.state->up.load(std::memory_order_relaxed),
                                                    c.state->active.load(std::memory_order_relaxed),
                                                    c.config->max_connections, c.id_hash});
    }
    pick_request req;
    req.policy = rc.balance;
    req.ticket = ticket;
    if (rc.balance == balance_policy::random) {
        req.random_a = next_random();
        req.random_b = next_random();
    }
    req.client_hash = client_hash;
    req.schedule = rs.schedule;
    req.tried_mask = tried_mask;
    int chosen = pick_backend(std::span<candidate_view const>(views, n), req);
    if (chosen < 0)
        return std::nullopt;
    return static_cast<std::size_t>(chosen);
}

void runtime::publish_metrics() const
{
    auto& m = metrics::get();
    m.begin_config();
    std::vector<std::pair<std::string, std::int64_t>> expiry;
    for (auto const& c : cfg->certificates)
        expiry.emplace_back(c.cert_file, c.not_after);
    m.set_certificates(std::move(expiry));
    for (std::size_t i = 0; i < cfg->routes.size(); ++i) {
        m.route(cfg->routes[i].name);
        for (auto const& prefix : cfg->routes[i].selector_prefix)
            m.prefix(cfg->routes[i].name, prefix);
        for (auto const& c : route_state[i].candidates)
            m.backend(cfg->routes[i].name, c.name);
    }
    std::vector<std::shared_ptr<backend_state>> states;
    for (auto const& rs : route_state)
        for (auto const& c : rs.candidates)
            states.push_back(c.state);
    retain_backend_states(states);
}

void apply_ticket_keys(runtime const& rt)
{
    auto& ring = ticket_keyring::get();
    if (rt.ticket_keys)
        ring.use_file_keys(rt.ticket_keys);
    else if (ring.from_file())
        ring.rotate(); // the file left the config: back to our own keys
}

std::shared_ptr<runtime const> build_runtime(std::shared_ptr<config const> cfg,
                                             backend_addresses const& addresses, std::string& error)
{
    auto rt = std::make_shared<runtime>(std::move(cfg));
    rt->access_log_fd = access_log_fd(rt->cfg->logging);
    rt->loops =
        rt->cfg->threads ? rt->cfg->threads : std::max(1u, std::thread::hardware_concurrency());
    rt->tls = tls_context_registry::build(*rt->cfg, rt->routes, error);
    if (!rt->tls)
        return nullptr;
    if (!rt->cfg->tls.ticket_keys.empty()) {
        rt->ticket_keys = ticket_keyring::read_file(rt->cfg->tls.ticket_keys, error);
        if (!rt->ticket_keys)
            return nullptr;
    }

    for (std::size_t i = 0; i < rt->cfg->routes.size(); ++i) {
        auto const& route = rt->cfg->routes[i];
        rt->route_state[i].stats = metrics::get().route(route.name);
        for (auto const& prefix : route.selector_prefix)
            rt->route_state[i].prefix_stats.push_back(metrics::get().prefix(route.name, prefix));
    }

    for (std::size_t i = 0; i < rt->cfg->routes.size(); ++i) {
        auto const& route = rt->cfg->routes[i];
        auto& rs = rt->route_state[i];
        std::vector<unsigned> weights;
        for (std::size_t b = 0; b < route.backends.size(); ++b) {
            auto const& bc = route.backends[b];
            std::string text = bc.address.to_string();
            std::shared_ptr<backend_tls_context const> tls;
            if (bc.tls) {
                tls = backend_tls_context::build(*bc.tls, error);
                if (!tls) {
                    error = "routes[" + std::to_string(i) + "].backends[" + std::to_string(b) +
                            "].tls: " + error;
                    return nullptr;
                }
                if (!bc.tls->verify)
                    log::warning("routes[" + std::to_string(i) + "].backends[" + std::to_string(b) +
                                 "] (" + text +
                                 "): tls.verify is false: the backend's certificate is not "
                                 "checked, so anyone on the path can impersonate it");
            }
            auto const& results = addresses.at(i).at(b);
            bool several = results.size() > 1;
            for (auto const& ep : results) {
                backend_candidate c;
                c.name = several ? text + "/" + ep.address().to_string() : text;
                c.endpoint = ep;
                c.config = &bc;
                c.state = backend_state_for(route.name, c.name);
                c.stats = metrics::get().backend(route.name, c.name);
                metrics::get().report_backend_up(c.stats, {c.state, &c.state->up});
                c.id_hash = stable_hash(c.name.data(), c.name.size());
                c.tls = tls;
                c.stats->tls.store(tls != nullptr, std::memory_order_relaxed);
                weights.push_back(bc.backup ? 0u : bc.weight);
                rs.candidates.push_back(std::move(c));
            }
        }
        if (rs.candidates.size() > 64) {
            error = "routes[" + std::to_string(i) + "]: more than 64 backend addresses";
            return nullptr;
        }
        // The schedule covers primaries only (weight 0 marks a backup: left out).
        std::vector<unsigned> primary_weights;
        std::vector<std::uint16_t> primary_index;
        for (std::size_t k = 0; k < weights.size(); ++k) {
            if (weights[k]) {
                primary_weights.push_back(weights[k]);
                primary_index.push_back(static_cast<std::uint16_t>(k));
            }
        }
        for (auto idx : smooth_weighted_schedule(primary_weights))
            rs.schedule.push_back(primary_index[idx]);
    }
    return rt;
}

} // namespace got
