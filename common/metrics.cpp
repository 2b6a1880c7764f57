#include "metrics.hpp"

#include "client_rate_table.hpp"

#include <chrono>
#include <cstdio>

namespace got {

namespace {

double unix_now()
{
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Label values escaped as the text format requires: backslash, quote, newline.
std::string esc(std::string_view v)
{
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"')
            out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

std::string num(double v)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.15g", v);
    return buf;
}

void family(std::string& out, char const* name, char const* type, char const* help)
{
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

void sample(std::string& out, std::string_view name, std::string_view labels, std::string value)
{
    out += name;
    if (!labels.empty()) {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
    out += value;
    out += '\n';
}

std::uint64_t load(counter const& c)
{
    return c.load(std::memory_order_relaxed);
}

} // namespace

void latency_histogram::observe(double seconds)
{
    for (std::size_t i = 0; i < connect_buckets.size(); ++i) {
        if (seconds <= connect_buckets[i]) {
            buckets[i].fetch_add(1, std::memory_order_relaxed);
            break;
        }
    }
    count.fetch_add(1, std::memory_order_relaxed);
    sum_microseconds.fetch_add(static_cast<std::uint64_t>(seconds * 1e6),
                               std::memory_order_relaxed);
}

metrics& metrics::get()
{
    static metrics instance;
    return instance;
}

metrics::metrics()
    : start_time_(unix_now())
{}

void count_outcome(error e)
{
    auto i = static_cast<std::size_t>(e);
    auto& m = metrics::get();
    if (i < m.connections_closed.size())
        m.connections_closed[i].fetch_add(1, std::memory_order_relaxed);
}

void count_goh_response(unsigned status)
{
    auto& m = metrics::get();
    for (std::size_t i = 0; i < goh_statuses.size(); ++i)
        if (goh_statuses[i] == status || goh_statuses[i] == 0) {
            m.goh_requests[i].fetch_add(1, std::memory_order_relaxed);
            return;
        }
}

void metrics::begin_config()
{
    std::lock_guard lock(mutex_);
    for (auto& [k, v] : routes_)
        v->in_config = false;
    for (auto& [k, v] : backends_)
        v->in_config = false;
    for (auto& [k, v] : listeners_)
        v->in_config = false;
    for (auto& [k, v] : prefixes_)
        v->in_config = false;
}

route_metrics* metrics::route(std::string const& name)
{
    std::lock_guard lock(mutex_);
    auto& slot = routes_[name];
    if (!slot)
        slot = std::make_unique<route_metrics>();
    slot->in_config = true;
    return slot.get();
}

backend_metrics* metrics::backend(std::string const& route, std::string const& address)
{
    std::lock_guard lock(mutex_);
    auto& slot = backends_[{route, address}];
    if (!slot)
        slot = std::make_unique<backend_metrics>();
    slot->in_config = true;
    return slot.get();
}

prefix_metrics* metrics::prefix(std::string const& route, std::string const& prefix)
{
    std::lock_guard lock(mutex_);
    auto& slot = prefixes_[{route, prefix}];
    if (!slot)
        slot = std::make_unique<prefix_metrics>();
    slot->in_config = true;
    return slot.get();
}

void metrics::report_backend_up(backend_metrics* b, std::shared_ptr<std::atomic<bool> const> up)
{
    std::lock_guard lock(mutex_);
    b->up_source = std::move(up);
}

listener_metrics* metrics::listener(std::string const& address)
{
    std::lock_guard lock(mutex_);
    auto& slot = listeners_[address];
    if (!slot)
        slot = std::make_unique<listener_metrics>();
    slot->in_config = true;
    return slot.get();
}

void metrics::set_certificates(std::vector<std::pair<std::string, std::int64_t>> expiry)
{
    std::lock_guard lock(mutex_);
    certificates_ = std::move(expiry);
}

namespace {

// The per-address table of limits.new_connections_per_ip (zeros until a limit made it).
void render_rate_table(std::string& o)
{
    auto const* t = new_connection_rates_if_made();
    family(o, "got_router_new_connection_table_entries", "gauge",
           "Client addresses held by the new-connection rate table.");
    sample(o, "got_router_new_connection_table_entries", "", std::to_string(t ? t->size() : 0));
    family(o, "got_router_new_connection_table_capacity", "gauge",
           "Addresses the new-connection rate table can hold (fixed).");
    sample(o, "got_router_new_connection_table_capacity", "",
           std::to_string(t ? t->capacity() : 0));
    family(o, "got_router_new_connection_table_evictions_total", "counter",
           "Addresses dropped from the full table before their bucket had refilled.");
    sample(o, "got_router_new_connection_table_evictions_total", "",
           std::to_string(t ? t->evictions() : 0));
}

} // namespace

std::string metrics::render() const
{
    std::lock_guard lock(mutex_);
    std::string o;
    o.reserve(8192);

    family(o, "got_router_build_info", "gauge", "Build information.");
    sample(o, "got_router_build_info", "version=\"" GOT_VERSION "\"", "1");
    family(o, "got_router_process_start_time_seconds", "gauge",
           "Start time of the process since the Unix epoch.");
    sample(o, "got_router_process_start_time_seconds", "", num(start_time_));

    family(o, "got_router_connections_accepted_total", "counter",
           "Connections accepted, by listener and transport.");
    for (auto const& [addr, l] : listeners_) {
        if (!l->in_config)
            continue;
        sample(o, "got_router_connections_accepted_total",
               "listener=\"" + esc(addr) + "\",transport=\"plain\"",
               std::to_string(load(l->accepted_plain)));
        sample(o, "got_router_connections_accepted_total",
               "listener=\"" + esc(addr) + "\",transport=\"tls\"",
               std::to_string(load(l->accepted_tls)));
    }
    family(o, "got_router_goh_connections_total", "counter",
           "Connections accepted (plaintext or TLS) that spoke HTTP to the GoH gateway, by "
           "listener.");
    for (auto const& [addr, l] : listeners_)
        if (l->in_config)
            sample(o, "got_router_goh_connections_total", "listener=\"" + esc(addr) + "\"",
                   std::to_string(load(l->accepted_goh)));
    family(o, "got_router_goh_requests_total", "counter",
           "GoH requests answered, by HTTP status (none: cut short before a status).");
    for (std::size_t i = 0; i < goh_statuses.size(); ++i)
        sample(o, "got_router_goh_requests_total",
               "status=\"" + (goh_statuses[i] ? std::to_string(goh_statuses[i]) : "none") + "\"",
               std::to_string(load(goh_requests[i])));
    family(o, "got_router_connections_active", "gauge", "Connections open now.");
    sample(o, "got_router_connections_active", "",
           std::to_string(active_connections.load(std::memory_order_relaxed)));
    family(o, "got_router_connections_closed_total", "counter", "Connections ended, by outcome.");
    for (auto e : enum_values<error>())
        sample(o, "got_router_connections_closed_total",
               "outcome=\"" + std::string(name_of(e)) + "\"",
               std::to_string(load(connections_closed[static_cast<std::size_t>(e)])));

    family(o, "got_router_tls_handshakes_total", "counter", "TLS handshakes, by outcome.");
    for (auto h : enum_values<handshake_outcome>())
        sample(o, "got_router_tls_handshakes_total", "outcome=\"" + std::string(name_of(h)) + "\"",
               std::to_string(load(handshakes[static_cast<std::size_t>(h)])));
    family(o, "got_router_tls_versions_total", "counter",
           "Finished TLS handshakes, by protocol version.");
    sample(o, "got_router_tls_versions_total", "version=\"TLSv1.2\"", std::to_string(load(tls12)));
    sample(o, "got_router_tls_versions_total", "version=\"TLSv1.3\"", std::to_string(load(tls13)));
    family(o, "got_router_tls_alpn_total", "counter",
           "Finished TLS handshakes, by negotiated ALPN protocol.");
    sample(o, "got_router_tls_alpn_total", "protocol=\"gopher\"",
           std::to_string(load(alpn_gopher)));
    sample(o, "got_router_tls_alpn_total", "protocol=\"none\"", std::to_string(load(alpn_none)));
    sample(o, "got_router_tls_alpn_total", "protocol=\"other\"", std::to_string(load(alpn_other)));

    family(o, "got_router_requests_total", "counter", "Requests routed, by route.");
    for (auto const& [name, r] : routes_)
        if (r->in_config)
            sample(o, "got_router_requests_total", "route=\"" + esc(name) + "\"",
                   std::to_string(load(r->requests)));
    family(o, "got_router_prefix_requests_total", "counter",
           "Requests routed by a selector prefix, by route and prefix.");
    for (auto const& [key, p] : prefixes_)
        if (p->in_config)
            sample(o, "got_router_prefix_requests_total",
                   "route=\"" + esc(key.first) + "\",prefix=\"" + esc(key.second) + "\"",
                   std::to_string(load(p->requests)));
    family(o, "got_router_menus_rewritten_total", "counter",
           "Backend replies rewritten as Gopher menus (rewrite_menus), by route and prefix.");
    for (auto const& [key, p] : prefixes_)
        if (p->in_config)
            sample(o, "got_router_menus_rewritten_total",
                   "route=\"" + esc(key.first) + "\",prefix=\"" + esc(key.second) + "\"",
                   std::to_string(load(p->menus_rewritten)));
    family(o, "got_router_received_bytes_total", "counter",
           "Bytes from clients to backends, by route.");
    for (auto const& [name, r] : routes_)
        if (r->in_config)
            sample(o, "got_router_received_bytes_total", "route=\"" + esc(name) + "\"",
                   std::to_string(load(r->bytes_in)));
    family(o, "got_router_sent_bytes_total", "counter",
           "Bytes from backends to clients, by route.");
    for (auto const& [name, r] : routes_)
        if (r->in_config)
            sample(o, "got_router_sent_bytes_total", "route=\"" + esc(name) + "\"",
                   std::to_string(load(r->bytes_out)));
    family(o, "got_router_backend_connect_duration_seconds", "histogram",
           "Time to connect to a backend, by route.");
    for (auto const& [name, r] : routes_) {
        if (!r->in_config)
            continue;
        std::uint64_t cumulative = 0;
        std::string base = "route=\"" + esc(name) + "\"";
        for (std::size_t i = 0; i < connect_buckets.size(); ++i) {
            cumulative += load(r->connect_latency.buckets[i]);
            sample(o, "got_router_backend_connect_duration_seconds_bucket",
                   base + ",le=\"" + num(connect_buckets[i]) + "\"", std::to_string(cumulative));
        }
        sample(o, "got_router_backend_connect_duration_seconds_bucket", base + ",le=\"+Inf\"",
               std::to_string(load(r->connect_latency.count)));
        sample(o, "got_router_backend_connect_duration_seconds_sum", base,
               num(static_cast<double>(load(r->connect_latency.sum_microseconds)) / 1e6));
        sample(o, "got_router_backend_connect_duration_seconds_count", base,
               std::to_string(load(r->connect_latency.count)));
    }

    family(o, "got_router_backend_connect_errors_total", "counter",
           "Failed backend connects (refused, unreachable, timed out).");
    for (auto const& [key, b] : backends_)
        if (b->in_config)
            sample(o, "got_router_backend_connect_errors_total",
                   "route=\"" + esc(key.first) + "\",backend=\"" + esc(key.second) + "\"",
                   std::to_string(load(b->connect_errors)));
    family(o, "got_router_backend_tls_handshakes_total", "counter",
           "TLS handshakes with backends that have tls, by outcome (full, resumed, "
           "verify_failed, failed, timeout); health checks included.");
    for (auto const& [key, b] : backends_) {
        if (!b->in_config || !b->tls)
            continue;
        for (std::size_t i = 0; i < b->tls_handshakes.size(); ++i)
            sample(o, "got_router_backend_tls_handshakes_total",
                   "route=\"" + esc(key.first) + "\",backend=\"" + esc(key.second) +
                       "\",outcome=\"" + std::string(name_of(static_cast<backend_tls_outcome>(i))) +
                       "\"",
                   std::to_string(load(b->tls_handshakes[i])));
    }
    family(o, "got_router_backend_up", "gauge", "Whether a backend is considered healthy.");
    for (auto const& [key, b] : backends_) {
        if (!b->in_config)
            continue;
        auto up = b->up_source.lock();
        sample(o, "got_router_backend_up",
               "route=\"" + esc(key.first) + "\",backend=\"" + esc(key.second) + "\"",
               !up || up->load() ? "1" : "0");
    }
    family(o, "got_router_backend_active_connections", "gauge",
           "Connections open to a backend now.");
    for (auto const& [key, b] : backends_)
        if (b->in_config)
            sample(o, "got_router_backend_active_connections",
                   "route=\"" + esc(key.first) + "\",backend=\"" + esc(key.second) + "\"",
                   std::to_string(b->active.load(std::memory_order_relaxed)));

    family(o, "got_router_config_reloads_total", "counter", "Config reloads, by outcome.");
    sample(o, "got_router_config_reloads_total", "outcome=\"ok\"",
           std::to_string(load(reloads_ok)));
    sample(o, "got_router_config_reloads_total", "outcome=\"failed\"",
           std::to_string(load(reloads_failed)));
    family(o, "got_router_config_load_duration_seconds", "gauge",
           "How long the last successful config load took.");
    sample(o, "got_router_config_load_duration_seconds", "", num(last_reload_seconds.load()));
    family(o, "got_router_config_last_load_timestamp_seconds", "gauge",
           "When the running config was loaded, since the Unix epoch.");
    sample(o, "got_router_config_last_load_timestamp_seconds", "",
           num(last_reload_timestamp.load()));

    family(o, "got_router_certificate_expiry_seconds", "gauge",
           "notAfter of each configured certificate, since the Unix epoch.");
    for (auto const& [file, t] : certificates_)
        sample(o, "got_router_certificate_expiry_seconds", "certificate=\"" + esc(file) + "\"",
               std::to_string(t));
    family(o, "got_router_proxy_header_errors_total", "counter",
           "Connections closed for a missing, malformed or unexpected PROXY header.");
    sample(o, "got_router_proxy_header_errors_total", "",
           std::to_string(load(proxy_header_errors)));
    family(o, "got_router_limit_hits_total", "counter",
           "Connections refused by a configured limit.");
    for (auto k : enum_values<limit_kind>())
        sample(o, "got_router_limit_hits_total", "limit=\"" + std::string(name_of(k)) + "\"",
               std::to_string(load(limit_hits[static_cast<std::size_t>(k)])));
    render_rate_table(o);
    return o;
}

} // namespace got
