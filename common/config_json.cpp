#include "config_json.hpp"

#include "log.hpp"

#include <cstdio>

namespace got {

namespace {

class json_writer
{
public:
    std::string out;

    void str(std::string_view s) { log::append_json_string(out, s); }
    void key(std::string_view k)
    {
        comma();
        str(k);
        out += ':';
        pending_value_ = true;
    }
    void value(std::string_view v)
    {
        comma();
        str(v);
    }
    void value(char const* v) { value(std::string_view(v)); }
    void value(bool v)
    {
        comma();
        out += v ? "true" : "false";
    }
    void value(long long v)
    {
        comma();
        out += std::to_string(v);
    }
    void null()
    {
        comma();
        out += "null";
    }
    void open(char c)
    {
        comma();
        out += c;
        first_ = true;
    }
    void close(char c)
    {
        out += c;
        first_ = false;
    }

private:
    void comma()
    {
        if (pending_value_) {
            pending_value_ = false;
            first_ = false;
            return;
        }
        if (!first_)
            out += ',';
        first_ = false;
    }
    bool first_ = true;
    bool pending_value_ = false;
};

std::string millis(duration d)
{
    return std::to_string(d.count()) + "ms";
}

// A route's `tls` as a map whatever form was written; a setting the route leaves to the
// top-level `tls` section is null.
void write_route_tls(json_writer& w, route_tls_config const& tls)
{
    w.key("tls");
    w.open('{');
    w.key("mode");
    w.value(name_of(tls.mode));
    w.key("min_version");
    tls.min_version ? w.value(name_of(*tls.min_version)) : w.null();
    w.key("profile");
    tls.profile ? w.value(name_of(*tls.profile)) : w.null();
    for (auto [key, text] : {std::pair{"ciphers", &tls.ciphers},
                             {"groups", &tls.groups},
                             {"client_ca", &tls.client_ca}}) {
        w.key(key);
        text->empty() ? w.null() : w.value(*text);
    }
    w.key("client_auth");
    tls.client_ca.empty() ? w.null() : w.value(name_of(tls.client_auth));
    w.close('}');
}

void write_blocks(json_writer& w, std::string_view key, std::vector<cidr_block> const& blocks)
{
    w.key(key);
    w.open('[');
    for (auto const& b : blocks)
        w.value(b.text);
    w.close(']');
}

// Always shown, empty when not written: /config says there is no restriction.
void write_access(json_writer& w, access_lists const& access)
{
    write_blocks(w, "allow", access.allow);
    write_blocks(w, "deny", access.deny);
}

// A backend's `tls`: null for plaintext, else the map with every default filled in (an
// empty string: none, the system store for `ca`).
void write_backend_tls(json_writer& w, std::optional<backend_tls_config> const& tls)
{
    w.key("tls");
    if (!tls) {
        w.null();
        return;
    }
    w.open('{');
    w.key("sni");
    tls->sni.empty() ? w.null() : w.value(tls->sni);
    w.key("alpn");
    w.open('[');
    for (auto const& p : tls->alpn)
        w.value(p);
    w.close(']');
    w.key("verify");
    w.value(tls->verify);
    for (auto [key, text] : {std::pair{"ca", &tls->ca}, {"cert", &tls->cert}, {"key", &tls->key}}) {
        w.key(key);
        text->empty() ? w.null() : w.value(*text);
    }
    w.close('}');
}

void write_backend(json_writer& w, backend_config const& b)
{
    w.open('{');
    w.key("address");
    w.value(b.address.to_string());
    w.key("weight");
    w.value(static_cast<long long>(b.weight));
    w.key("backup");
    w.value(b.backup);
    w.key("max_connections");
    w.value(static_cast<long long>(b.max_connections));
    w.key("send_proxy");
    w.value(name_of(b.send_proxy));
    write_backend_tls(w, b.tls);
    w.close('}');
}

void write_health(json_writer& w, health_config const& h)
{
    w.key("health");
    w.open('{');
    w.key("interval");
    w.value(millis(h.interval));
    w.key("timeout");
    w.value(millis(h.timeout));
    w.key("rise");
    w.value(static_cast<long long>(h.rise));
    w.key("fall");
    w.value(static_cast<long long>(h.fall));
    if (h.gopher_check) {
        w.key("selector");
        w.value(h.selector);
        w.key("expect");
        w.value(h.expect);
    }
    w.close('}');
}

void write_listener(json_writer& w, listener_config const& l)
{
    w.open('{');
    w.key("address");
    w.value(l.address.to_string());
    w.key("plaintext");
    w.value(l.plaintext);
    w.key("tls");
    w.value(l.tls);
    w.key("default_route");
    w.value(l.default_route);
    w.key("selector_vhost");
    w.value(l.selector_vhost);
    if (l.proxy_protocol) {
        w.key("proxy_protocol");
        w.open('{');
        w.key("accept");
        w.open('[');
        if (l.proxy_protocol->accept_v1)
            w.value("v1");
        if (l.proxy_protocol->accept_v2)
            w.value("v2");
        w.close(']');
        w.key("from");
        w.open('[');
        for (auto const& c : l.proxy_protocol->from)
            w.value(c.text);
        w.close(']');
        w.close('}');
    }
    write_access(w, l.access);
    if (l.goh) {
        w.key("goh");
        w.open('{');
        w.key("path");
        w.value(l.goh->path);
        w.key("cors_origin");
        w.value(l.goh->cors_origin);
        w.key("max_requests");
        w.value(static_cast<long long>(l.goh->max_requests));
        w.key("keepalive");
        w.value(millis(l.goh->keepalive));
        w.close('}');
    }
    w.close('}');
}

void write_certificate(json_writer& w, certificate_config const& c, config const& cfg)
{
    w.open('{');
    w.key("cert");
    w.value(c.cert_file);
    w.key("key");
    w.value(c.key_file);
    w.key("default");
    w.value(&c == cfg.default_certificate());
    w.key("names");
    w.open('[');
    for (auto const& n : c.names)
        w.value(n);
    w.close(']');
    w.key("not_after");
    w.value(static_cast<long long>(c.not_after));
    w.close('}');
}

void write_route(json_writer& w, route_config const& r)
{
    w.open('{');
    w.key("name");
    w.value(r.name);
    w.key("sni");
    w.open('[');
    for (auto const& n : r.sni)
        w.value(n);
    w.close(']');
    w.key("alpn");
    w.open('[');
    for (auto const& a : r.alpn)
        w.value(a);
    w.close(']');
    write_route_tls(w, r.tls);
    w.key("backends");
    w.open('[');
    for (auto const& b : r.backends)
        write_backend(w, b);
    w.close(']');
    w.key("balance");
    w.value(name_of(r.balance));
    w.key("retries");
    w.value(static_cast<long long>(r.retries));
    w.key("selector_prefix");
    w.open('[');
    for (auto const& p : r.selector_prefix)
        w.value(p);
    w.close(']');
    w.key("strip_prefix");
    w.value(r.strip_prefix);
    w.key("rewrite_menus");
    if (r.rewrite_menus) {
        w.open('{');
        w.key("host");
        w.value(r.rewrite_menus->host);
        w.key("port");
        w.value(static_cast<long long>(r.rewrite_menus->port));
        w.close('}');
    } else {
        w.null();
    }
    if (r.health.enabled)
        write_health(w, r.health);
    write_access(w, r.access);
    w.close('}');
}

// The top-level sections after the lists: tls, limits, timeouts, admin, logging.
void write_settings(json_writer& w, config const& cfg)
{
    w.key("tls");
    w.open('{');
    w.key("alpn");
    w.open('[');
    for (auto const& a : cfg.tls.alpn)
        w.value(a);
    w.close(']');
    w.key("require_alpn");
    w.value(cfg.tls.require_alpn);
    w.key("min_version");
    w.value(name_of(cfg.tls.min_version));
    w.key("profile");
    w.value(name_of(cfg.tls.profile));
    w.key("unknown_sni");
    w.value(name_of(cfg.tls.unknown_sni));
    w.key("ciphers");
    w.value(cfg.tls.ciphers);
    w.key("groups");
    w.value(cfg.tls.groups);
    w.key("ticket_keys"); // the path only, never the keys
    w.value(cfg.tls.ticket_keys);
    w.key("ticket_rotation");
    w.value(millis(cfg.tls.ticket_rotation));
    w.close('}');
    w.key("limits");
    w.open('{');
    w.key("max_connections");
    w.value(static_cast<long long>(cfg.limits.max_connections));
    w.key("max_connections_per_ip");
    w.value(static_cast<long long>(cfg.limits.max_connections_per_ip));
    w.key("handshakes_per_second");
    w.value(static_cast<long long>(cfg.limits.handshakes_per_second));
    w.key("new_connections_per_ip");
    w.value(cfg.limits.new_connections_per_ip.to_string());
    w.key("new_connections_burst");
    w.value(static_cast<long long>(cfg.limits.new_connections_burst));
    w.close('}');
    w.key("timeouts");
    w.open('{');
    w.key("handshake");
    w.value(millis(cfg.timeouts.handshake));
    w.key("connect");
    w.value(millis(cfg.timeouts.connect));
    w.key("idle");
    w.value(millis(cfg.timeouts.idle));
    w.key("shutdown_grace");
    w.value(millis(cfg.timeouts.shutdown_grace));
    w.key("half_closed");
    w.value(millis(cfg.timeouts.half_closed));
    w.close('}');
    w.key("admin");
    w.open('{');
    w.key("address");
    w.value(cfg.admin.address ? cfg.admin.address->to_string() : "");
    w.close('}');
    w.key("logging");
    w.open('{');
    w.key("level");
    w.value(name_of(cfg.logging.level));
    w.key("format");
    w.value(name_of(cfg.logging.format));
    w.key("access");
    w.value(cfg.logging.access_off ? std::string("off") : cfg.logging.access);
    w.close('}');
}

} // namespace

std::string config_to_json(config const& cfg)
{
    json_writer w;
    w.open('{');
    w.key("source");
    w.value(cfg.source);
    w.key("threads");
    w.value(static_cast<long long>(cfg.threads));
    w.key("user");
    w.value(cfg.user);
    w.key("group");
    w.value(cfg.group);
    w.key("listeners");
    w.open('[');
    for (auto const& l : cfg.listeners)
        write_listener(w, l);
    w.close(']');
    w.key("certificates");
    w.open('[');
    for (auto const& c : cfg.certificates)
        write_certificate(w, c, cfg);
    w.close(']');
    w.key("routes");
    w.open('[');
    for (auto const& r : cfg.routes)
        write_route(w, r);
    w.close(']');
    write_settings(w, cfg);
    w.close('}');
    w.out += '\n';
    return w.out;
}

} // namespace got
