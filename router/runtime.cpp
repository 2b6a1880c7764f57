#include "runtime.hpp"

#include "access_log.hpp"
#include "ticket_keys.hpp"

#include <algorithm>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace got {

namespace net = boost::asio;
using tcp = net::ip::tcp;

runtime::runtime(std::shared_ptr<config const> c)
    : cfg(std::move(c))
    , routes(*cfg)
    , route_state(cfg->routes.size())
{}

backend_target const* runtime::pick_backend(int route_index) const
{
    if (route_index < 0 || static_cast<std::size_t>(route_index) >= route_state.size())
        return nullptr;
    auto const& rs = route_state[static_cast<std::size_t>(route_index)];
    if (rs.backends.empty())
        return nullptr;
    unsigned n = rs.next.fetch_add(1, std::memory_order_relaxed);
    return &rs.backends[n % rs.backends.size()];
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
        for (auto const& b : route_state[i].backends)
            m.backend(cfg->routes[i].name, b.name);
    }
}

std::shared_ptr<runtime const> build_runtime(std::shared_ptr<config const> cfg, std::string& error)
{
    auto rt = std::make_shared<runtime>(std::move(cfg));
    rt->access_log_fd = access_log_fd(rt->cfg->logging);
    rt->loops = rt->cfg->threads ? rt->cfg->threads
                                 : std::max(1u, std::thread::hardware_concurrency());
    rt->tls = tls_context_registry::build(*rt->cfg, rt->routes, error);
    if (rt->tls && !rt->cfg->tls.ticket_keys.empty() &&
        !ticket_keyring::get().load_file(rt->cfg->tls.ticket_keys, error))
        return nullptr;
    if (rt->tls && rt->cfg->tls.ticket_keys.empty() && ticket_keyring::get().from_file())
        ticket_keyring::get().rotate(); // the file left the config: back to our own keys
    if (!rt->tls)
        return nullptr;

    for (std::size_t i = 0; i < rt->cfg->routes.size(); ++i)
        rt->route_state[i].stats = metrics::get().route(rt->cfg->routes[i].name);

    net::io_context resolver_ctx;
    tcp::resolver resolver(resolver_ctx);
    for (std::size_t i = 0; i < rt->cfg->routes.size(); ++i) {
        for (auto const& b : rt->cfg->routes[i].backends) {
            backend_target target{b.address.to_string(), {}};
            boost::system::error_code ec;
            auto results = resolver.resolve(b.address.host, std::to_string(b.address.port),
                                            tcp::resolver::numeric_service, ec);
            if (ec) {
                error = "routes[" + std::to_string(i) + "]: cannot resolve backend " + target.name +
                        ": " + ec.message();
                return nullptr;
            }
            for (auto const& r : results)
                target.endpoints.push_back(r.endpoint());
            target.stats = metrics::get().backend(rt->cfg->routes[i].name, target.name);
            rt->route_state[i].backends.push_back(std::move(target));
        }
    }
    return rt;
}

} // namespace got
