#include "selector_routing.hpp"

#include "common/selector.hpp"

#include <string_view>

namespace got {

bool routes_by_selector(session_state const& s)
{
    return s.rt.routes.has_prefixes() || s.listener.config.selector_vhost;
}

request_line_rules request_rules(session_state const& s)
{
    return routes_by_selector(s) ? selector_routing_rules : request_line_rules{};
}

void learn_selector(session_state& s, boost::beast::flat_buffer const& buf)
{
    if (!routes_by_selector(s))
        return;
    auto data = buf.data();
    std::string_view request(static_cast<char const*>(data.data()), data.size());
    auto sel = selector::of_request(request);
    auto& rare = s.facts.rare();
    if (s.listener.config.selector_vhost && s.facts.sni.empty())
        if (auto v = selector::split_vhost(sel)) {
            rare.vhost = std::move(v->name);
            sel = v->selector;
        }
    rare.selector.assign(sel);
}

route_query query_for(session_state const& s)
{
    std::string_view name = s.facts.vhost().empty() ? s.facts.sni : s.facts.vhost();
    return {name, s.listener.config.default_route, s.facts.alpn_offered, s.facts.selector()};
}

prefix_metrics* prefix_stats(route_runtime const& rs, matched_route const& route)
{
    auto const& prefixes = route.config.selector_prefix;
    for (std::size_t i = 0; i < prefixes.size() && i < rs.prefix_stats.size(); ++i)
        if (prefixes[i] == route.prefix)
            return rs.prefix_stats[i];
    return nullptr;
}

void apply_prefix(session_state& s, matched_route const& route, boost::beast::flat_buffer& buf)
{
    if (route.prefix.empty())
        return;
    s.record.routed->prefix = route.prefix;
    if (auto* stats = prefix_stats(s.rt.route_state[route.index], route))
        stats->requests.fetch_add(1, std::memory_order_relaxed);
    if (!route.config.strip_prefix)
        return;
    buf.consume(route.prefix.size()); // the selector starts with it (has_prefix)
}

} // namespace got
