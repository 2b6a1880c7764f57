#include "config_loader.hpp"

#include "address.hpp"
#include "certificate_info.hpp"
#include "cidr.hpp"
#include "config_keys.hpp"
#include "duration.hpp"
#include "rate.hpp"
#include "selector.hpp"
#include "small_file.hpp"
#include "sni.hpp"
#include "yaml_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <memory>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <optional>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

namespace got {

namespace {

constexpr std::size_t max_file_size = std::size_t{1} << 20;
constexpr std::size_t max_yaml_nodes = 100'000;
constexpr long long max_threads = 1024;
// Connection counts and rates: far above any real limit, low enough that the router's
// arithmetic on them cannot overflow.
constexpr long long max_count = 100'000'000;
constexpr long long max_weight = 1000;
constexpr long long max_retries = 10;
constexpr long long max_health_count = 100;
// `tls.ticket_keys`: 16-byte name, 32-byte HMAC key, 32-byte AES key, per key.
constexpr long long ticket_key_size = 80;
constexpr long long max_ticket_keys = 16;
constexpr duration min_ticket_rotation = std::chrono::minutes(1);

using namespace std::chrono_literals;

using problems = std::vector<config_problem>;

std::string in_quotes(std::string_view s)
{
    return "\"" + std::string(s) + "\"";
}

std::string lower(std::string s)
{
    for (auto& c : s)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return s;
}

// `routes[0].name (line 12)`: where the first of two clashing values is.
std::string where(yaml_value const& v)
{
    return v.path + " (line " + std::to_string(v.mark.line + 1) + ")";
}

std::string resolve_path(std::string const& base_dir, std::string const& path)
{
    std::filesystem::path p(path);
    if (base_dir.empty() || p.is_absolute())
        return path;
    return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

bool looks_like_ipv4(std::string_view name)
{
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// `5s`, `2m`, `250ms`: a duration in the largest unit that writes it exactly.
std::string duration_text(duration d)
{
    auto ms = d.count();
    if (ms != 0 && ms % 3'600'000 == 0)
        return std::to_string(ms / 3'600'000) + "h";
    if (ms != 0 && ms % 60'000 == 0)
        return std::to_string(ms / 60'000) + "m";
    if (ms % 1000 == 0)
        return std::to_string(ms / 1000) + "s";
    return std::to_string(ms) + "ms";
}

// What is wrong with `tls.ticket_keys`, or nothing. The file is checked by its size and
// opened, never read: the keys stay out of the loader's memory. Not opened before it is
// known to be a regular file, so a FIFO cannot block the load.
std::string ticket_keys_problem(std::string const& file)
{
    struct stat st = {};
    if (::stat(file.c_str(), &st) != 0)
        return "cannot read " + in_quotes(file) + ": " + std::strerror(errno);
    if (S_ISDIR(st.st_mode))
        return in_quotes(file) + " is a directory, not a file";
    if (!S_ISREG(st.st_mode))
        return in_quotes(file) + " is not a regular file";
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return "cannot read " + in_quotes(file) + ": " + std::strerror(errno);
    ::close(fd);
    auto size = static_cast<long long>(st.st_size);
    if (size == 0 || size % ticket_key_size != 0 || size > max_ticket_keys * ticket_key_size)
        return in_quotes(file) + " holds " + std::to_string(size) +
               " bytes; expected 1 to 16 keys of 80 bytes each (16-byte name, 32-byte HMAC "
               "key, 32-byte AES key: `openssl rand 80`, several concatenated)";
    return {};
}

// Whether OpenSSL takes `list` as a cipher list (selecting at least one TLS 1.2 cipher) or
// as a groups list (every name known), so `got-router -t` finds a typo rather than the
// first TLS context built. True when no context can be made here to ask.
bool openssl_accepts(std::string const& list, bool groups)
{
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()),
                                                          &SSL_CTX_free);
    if (!ctx) {
        ERR_clear_error();
        return true;
    }
    int ok = groups ? SSL_CTX_set1_groups_list(ctx.get(), list.c_str())
                    : SSL_CTX_set_cipher_list(ctx.get(), list.c_str());
    ERR_clear_error();
    return ok == 1;
}

// Where a listener's settings were written, for the checks that need other sections.
struct listener_source
{
    yaml_value at;
    std::optional<yaml_value> address;
    std::optional<yaml_value> tls;
    std::optional<yaml_value> default_route;
    bool tls_valid = true; // false: `tls` was not a boolean, so no check depends on it
};

// One `backends` entry as read: the backend when its address is good, and what the route's
// own checks need.
struct backend_entry
{
    std::optional<backend_config> backend;
    std::optional<yaml_value> address; // where the address was written
    bool primary = false;              // backup absent or false
    bool backup = false;               // backup: true; neither when `backup` was invalid
    std::optional<yaml_value> tls;     // where `tls` was written
};

// Names seen so far across routes, to refuse a second claim. An SNI pattern is claimed
// once per ALPN protocol a route names, or once as "any protocol" ("" key) by a route
// without `alpn`: two routes that could match the same (name, protocol) pair are refused.
struct route_claims
{
    std::map<std::string, yaml_value> names;
    std::map<std::pair<std::string, std::string>, yaml_value> sni;
};

// Where a route's selector keys were written, for the checks across routes.
struct route_selector_source
{
    std::vector<yaml_value> prefixes; // one per route_config::selector_prefix entry
};

// Reads a parsed tree (already bounded by count_yaml_nodes) into a config, recording every
// problem in the reader and carrying on after each.
class config_builder
{
public:
    config_builder(yaml_reader& reader, std::string base_dir)
        : r_(reader)
        , base_dir_(std::move(base_dir))
    {}

    void read(yaml_value const& root);
    config take() { return std::move(cfg_); }

private:
    std::optional<std::vector<yaml_value>> required_list(yaml_map const& top, std::string_view key,
                                                         std::string const& why);
    std::optional<yaml_value> required(yaml_map const& m, std::string_view key);
    std::optional<std::string> required_path(yaml_map const& m, std::string_view key);

    void read_account_name(yaml_map const& top, std::string_view key, std::string& out);
    void read_listener(yaml_value const& item);
    std::optional<proxy_protocol_config> read_proxy_protocol(yaml_value const& v);
    std::optional<goh_config> read_goh(yaml_value const& v);
    void read_goh_path(yaml_value const& v, goh_config& goh);
    void read_proxy_accept(yaml_value const& v, proxy_protocol_config& pp);
    void read_access(yaml_map const& m, access_lists& access);
    void read_cidr_list(yaml_value const& v, std::vector<cidr_block>& out);
    void read_certificate(yaml_value const& item, std::optional<yaml_value>& first_default);
    void read_certificate_files(yaml_map const& m, certificate_config& c);
    void read_route(yaml_value const& item, route_claims& claims);
    void read_route_name(yaml_map const& m, route_config& route, route_claims& claims);
    void read_route_sni(yaml_value const& list, route_config& route);
    // An ALPN list into `out` (replaced): names 1 to 255 bytes, each once; an empty list
    // is reported with `if_empty` unless that is empty.
    void read_alpn_names(yaml_value const& list, std::string_view if_empty,
                         std::vector<std::string>& out);
    void claim_route_names(route_config const& route, std::vector<yaml_value> const& patterns,
                           std::optional<yaml_value> const& alpn, route_claims& claims);
    std::vector<yaml_value> sni_items_;
    void read_backends(yaml_map const& m, route_config& route);
    backend_entry read_backend(yaml_value const& item);
    std::optional<backend_tls_config> read_backend_tls(yaml_value const& v,
                                                       endpoint const* address);
    void read_backend_tls_files(yaml_map const& m, backend_tls_config& tls);
    void read_health(yaml_value const& v, health_config& health);
    void read_health_request(yaml_map const& m, health_config& health);
    void read_route_tls(yaml_value const& v, route_tls_config& tls);
    void read_route_tls_map(yaml_map const& m, route_tls_config& tls);
    void read_client_auth(yaml_map const& m, route_tls_config& tls);
    void check_route_tls();
    void read_tls(yaml_value const& v);
    void read_openssl_list(yaml_map const& m, std::string_view key, std::string& out);
    void read_ticket_keys(yaml_value const& v);
    void check_tls_profile(yaml_map const& m);
    void read_limits(yaml_value const& v);
    void read_count(yaml_map const& m, std::string_view key, unsigned& out);
    void read_new_connection_rate(yaml_map const& m);
    void read_timeouts(yaml_value const& v);
    std::optional<yaml_value> read_duration(yaml_map const& m, std::string_view key, duration& out,
                                            duration min);
    void read_admin(yaml_value const& v);
    void read_logging(yaml_value const& v);
    void check_listeners();
    void check_certificate_names();
    void read_route_selector(yaml_map const& m, route_config& route);
    void read_selector_prefix(yaml_value const& v, route_config& route);
    std::optional<endpoint> read_rewrite_menus(yaml_value const& v);
    void check_selector_routes();
    void check_prefix_only_names();

    yaml_reader& r_;
    std::vector<route_selector_source> route_selectors_;
    std::string base_dir_;
    config cfg_;
    std::vector<listener_source> listener_sources_;
    std::vector<yaml_value> certificate_sources_; // each certificates[] entry, for messages
    // Each route's `tls` map (absent: none written), for the checks against `tls`.
    std::vector<std::optional<yaml_map>> route_tls_sources_;
};

void config_builder::read(yaml_value const& root)
{
    auto top = r_.map(root, config_keys::top);
    if (!top)
        return;
    if (auto v = top->get("threads"))
        if (auto n = r_.integer(*v, 1, max_threads))
            cfg_.threads = static_cast<unsigned>(*n);
    read_account_name(*top, "user", cfg_.user);
    read_account_name(*top, "group", cfg_.group);
    if (auto items = required_list(*top, "listeners", "at least one listener is required"))
        for (auto const& item : *items)
            read_listener(item);
    if (auto v = top->get("certificates")) {
        std::optional<yaml_value> first_default;
        if (auto items = r_.list(*v))
            for (auto const& item : *items)
                read_certificate(item, first_default);
    }
    route_claims claims;
    if (auto items = required_list(*top, "routes", "at least one route is required"))
        for (auto const& item : *items)
            read_route(item, claims);
    if (auto v = top->get("tls"))
        read_tls(*v);
    check_route_tls();
    if (auto v = top->get("limits"))
        read_limits(*v);
    if (auto v = top->get("timeouts"))
        read_timeouts(*v);
    if (auto v = top->get("admin"))
        read_admin(*v);
    if (auto v = top->get("logging"))
        read_logging(*v);
    check_listeners();
    check_certificate_names();
    check_selector_routes();
}

std::optional<std::vector<yaml_value>>
config_builder::required_list(yaml_map const& top, std::string_view key, std::string const& why)
{
    auto v = top.get_even_null(key);
    if (!v) {
        r_.problem(top.missing(key), "missing: " + why);
        return std::nullopt;
    }
    if (v->node.IsNull()) {
        r_.problem(*v, why);
        return std::nullopt;
    }
    auto items = r_.list(*v);
    if (items && items->empty()) {
        r_.problem(*v, why);
        return std::nullopt;
    }
    return items;
}

std::optional<yaml_value> config_builder::required(yaml_map const& m, std::string_view key)
{
    auto v = m.get(key);
    if (!v)
        r_.problem(m.missing(key), "missing required key " + in_quotes(key));
    return v;
}

std::optional<std::string> config_builder::required_path(yaml_map const& m, std::string_view key)
{
    auto v = required(m, key);
    if (!v)
        return std::nullopt;
    auto text = r_.string(*v);
    if (text && text->empty()) {
        r_.problem(*v, "expected a file path, got an empty string");
        return std::nullopt;
    }
    return text;
}

void config_builder::read_account_name(yaml_map const& top, std::string_view key, std::string& out)
{
    auto v = top.get_even_null(key);
    if (!v)
        return;
    auto name = r_.string(*v);
    if (!name)
        return;
    auto bad = [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == ':'; };
    if (name->empty() || std::any_of(name->begin(), name->end(), bad))
        r_.problem(*v,
                   "expected a " + std::string(key) + " name or number, got " + describe(v->node));
    else
        out = *name;
}

void config_builder::read_listener(yaml_value const& item)
{
    listener_config listener;
    listener_source source{item, std::nullopt, std::nullopt, std::nullopt, true};
    if (auto m = r_.map(item, config_keys::listener)) {
        source.address = required(*m, "address");
        if (source.address)
            if (auto e = r_.parsed(*source.address, "host:port", [](std::string_view text) {
                    return parse_endpoint(text, {host_rule::ip_literal, 0});
                }))
                listener.address = *e;
        if (auto v = m->get("plaintext"))
            listener.plaintext = r_.boolean(*v).value_or(listener.plaintext);
        source.tls = m->get("tls");
        if (source.tls) {
            auto tls = r_.boolean(*source.tls);
            listener.tls = tls.value_or(listener.tls);
            source.tls_valid = tls.has_value();
        }
        source.default_route = m->get("default_route");
        if (source.default_route)
            listener.default_route = r_.string(*source.default_route).value_or("");
        // Null is refused, not taken as "off": `proxy_protocol:` alone reads as "on".
        if (auto v = m->get_even_null("proxy_protocol"))
            listener.proxy_protocol = read_proxy_protocol(*v);
        read_access(*m, listener.access);
        if (auto v = m->get("selector_vhost"))
            listener.selector_vhost = r_.boolean(*v).value_or(false);
        if (auto v = m->get_even_null("goh"))
            listener.goh = read_goh(*v);
        if (!listener.plaintext && !listener.tls)
            r_.problem(item, "a listener must accept plaintext, TLS or both, but plaintext and "
                             "tls are both false");
    }
    cfg_.listeners.push_back(std::move(listener));
    listener_sources_.push_back(std::move(source));
}

std::optional<proxy_protocol_config> config_builder::read_proxy_protocol(yaml_value const& v)
{
    auto m = r_.map(v, config_keys::proxy_protocol);
    if (!m)
        return std::nullopt;
    proxy_protocol_config pp;
    if (auto a = m->get_even_null("accept"))
        read_proxy_accept(*a, pp);
    auto items = required_list(*m, "from",
                               "at least one address block is required: the peers (load "
                               "balancers) that send a PROXY header");
    if (!items)
        return pp;
    for (auto const& item : *items)
        if (auto block = r_.parsed(item, "an address block like 10.0.0.0/8", parse_cidr))
            pp.from.push_back(std::move(*block));
    return pp;
}

void config_builder::read_access(yaml_map const& m, access_lists& access)
{
    if (auto v = m.get_even_null("allow"))
        read_cidr_list(*v, access.allow);
    if (auto v = m.get_even_null("deny"))
        read_cidr_list(*v, access.deny);
}

// An empty list is refused: `allow: []` could be read as "nobody" or as "no restriction".
void config_builder::read_cidr_list(yaml_value const& v, std::vector<cidr_block>& out)
{
    auto items = r_.list(v);
    if (!items)
        return;
    if (items->empty())
        r_.problem(v, "expected at least one address block like 10.0.0.0/8 (leave the key out "
                      "for no restriction)");
    for (auto const& item : *items)
        if (auto block = r_.parsed(item, "an address block like 10.0.0.0/8", parse_cidr))
            out.push_back(std::move(*block));
}

// `goh: true` (the defaults), `goh: false`, or a map of goh_config's keys. Null is
// refused as proxy_protocol's is: `goh:` alone reads as "on" to some and "off" to others.
std::optional<goh_config> config_builder::read_goh(yaml_value const& v)
{
    if (v.node.IsScalar()) {
        auto on = r_.boolean(v);
        return on && *on ? std::optional<goh_config>(goh_config{}) : std::nullopt;
    }
    if (!v.node.IsMap()) {
        r_.problem(v, "expected true, false or a map of path, cors_origin, max_requests and "
                      "keepalive, got " +
                          describe(v.node));
        return std::nullopt;
    }
    auto m = r_.map(v, config_keys::goh);
    if (!m)
        return std::nullopt;
    goh_config goh;
    if (auto p = m->get_even_null("path"))
        read_goh_path(*p, goh);
    if (auto o = m->get_even_null("cors_origin")) {
        auto origin = r_.string(*o);
        auto bad = [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; };
        if (origin && std::any_of(origin->begin(), origin->end(), bad))
            r_.problem(*o, "expected an origin such as \"*\" or \"https://example.org\" "
                           "(no control characters), got " +
                               describe(o->node));
        else if (origin)
            goh.cors_origin = *origin;
    }
    if (auto n = m->get_even_null("max_requests"))
        if (auto count = r_.integer(*n, 1, 1000000))
            goh.max_requests = static_cast<unsigned>(*count);
    read_duration(*m, "keepalive", goh.keepalive, 1ms);
    return goh;
}

void config_builder::read_goh_path(yaml_value const& v, goh_config& goh)
{
    auto path = r_.string(v);
    if (!path)
        return;
    auto bad = [](char c) {
        return static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f ||
               c == '?' || c == '#';
    };
    if (!path->starts_with('/') || std::any_of(path->begin(), path->end(), bad))
        r_.problem(v, "expected a URL path starting with / (no spaces, ? or #), such as "
                      "/gopher-proxy, got " +
                          describe(v.node));
    else
        goh.path = *path;
}

void config_builder::read_proxy_accept(yaml_value const& v, proxy_protocol_config& pp)
{
    auto items = r_.list(v);
    if (!items)
        return;
    if (items->empty()) {
        r_.problem(v, "expected at least one PROXY protocol version (the default is [v1, v2])");
        return;
    }
    pp.accept_v1 = false;
    pp.accept_v2 = false;
    for (auto const& item : *items) {
        auto version =
            r_.choice<proxy_version>(item, "PROXY protocol version", {proxy_version::none});
        if (version == proxy_version::v1)
            pp.accept_v1 = true;
        else if (version == proxy_version::v2)
            pp.accept_v2 = true;
    }
}

void config_builder::read_certificate(yaml_value const& item,
                                      std::optional<yaml_value>& first_default)
{
    certificate_config c;
    certificate_sources_.push_back(item);
    if (auto m = r_.map(item, config_keys::certificate)) {
        if (auto v = m->get("default")) {
            c.is_default = r_.boolean(*v).value_or(false);
            if (c.is_default && first_default)
                r_.problem(*v, "only one certificate may have default: true; " +
                                   where(*first_default) + " already does");
            else if (c.is_default)
                first_default = v;
        }
        read_certificate_files(*m, c);
    }
    cfg_.certificates.push_back(std::move(c));
}

void config_builder::read_certificate_files(yaml_map const& m, certificate_config& c)
{
    auto cert = required_path(m, "cert");
    auto key = required_path(m, "key");
    if (!cert || !key)
        return;
    c.cert_file = resolve_path(base_dir_, *cert);
    c.key_file = resolve_path(base_dir_, *key);
    auto check = check_certificate(c.cert_file, c.key_file);
    if (!check.cert_error.empty())
        r_.problem(*m.get("cert"), check.cert_error);
    if (!check.key_error.empty())
        r_.problem(*m.get("key"), check.key_error);
    if (check.info) {
        c.names = std::move(check.info->names);
        c.not_after = check.info->not_after;
        c.key_type = std::move(check.info->key_type);
    }
}

// Two certificates may share a name only as a dual pair: exactly the same names and
// different key types (OpenSSL then picks by what the client's signature algorithms
// accept). Anything else would leave one of them unused for that name.
void config_builder::check_certificate_names()
{
    std::map<std::string, std::vector<std::size_t>> holders;
    for (std::size_t i = 0; i < cfg_.certificates.size(); ++i) {
        auto const& c = cfg_.certificates[i];
        auto problem = [&]() -> std::optional<std::string> {
            for (auto const& name : c.names)
                for (auto j : holders[name]) {
                    auto const& other = cfg_.certificates[j];
                    auto const& other_at = certificate_sources_[j];
                    if (other.names != c.names)
                        return "this certificate and " + where(other_at) + " both serve " +
                               in_quotes(name) +
                               " but not the same names: certificates of one name must list "
                               "the same names (a dual ECDSA and RSA pair)";
                    if (other.key_type == c.key_type)
                        return "this certificate and " + where(other_at) + " are both " +
                               c.key_type + " certificates for " + in_quotes(name) +
                               ": one name takes one certificate per key type";
                }
            return std::nullopt;
        }();
        if (problem)
            r_.problem(certificate_sources_[i], *problem);
        for (auto const& name : c.names)
            holders[name].push_back(i);
    }
}

void config_builder::read_route(yaml_value const& item, route_claims& claims)
{
    route_config route;
    route_selectors_.emplace_back();
    if (auto m = r_.map(item, config_keys::route)) {
        read_route_name(*m, route, claims);
        sni_items_.clear();
        if (auto v = m->get("sni"))
            read_route_sni(*v, route);
        auto alpn = m->get("alpn");
        if (alpn)
            read_alpn_names(*alpn,
                            "expected at least one ALPN protocol name (leave alpn out for any)",
                            route.alpn);
        if (alpn && route.sni.empty())
            r_.problem(*alpn, "alpn needs sni: a route without sni is reached only as a "
                              "listener's default_route, which takes any protocol");
        // Before the claims: a route with a prefix claims (name, prefix), not the name.
        if (auto v = m->get("selector_prefix"))
            read_selector_prefix(*v, route);
        claim_route_names(route, sni_items_, alpn, claims);
        if (auto v = m->get("tls"))
            read_route_tls(*v, route.tls);
        read_backends(*m, route);
        if (auto v = m->get("balance"))
            route.balance = r_.choice<balance_policy>(*v, "balance").value_or(route.balance);
        // Null is refused, not taken as "off": `health:` alone reads as "on".
        if (auto v = m->get_even_null("health"))
            read_health(*v, route.health);
        if (auto v = m->get("retries"))
            if (auto n = r_.integer(*v, 0, max_retries))
                route.retries = static_cast<unsigned>(*n);
        read_access(*m, route.access);
        read_route_selector(*m, route);
    }
    cfg_.routes.push_back(std::move(route));
}

// `tls: passthrough` (or `terminate`) is the short form of `tls: {mode: ...}`.
void config_builder::read_route_tls(yaml_value const& v, route_tls_config& tls)
{
    route_tls_sources_.resize(cfg_.routes.size() + 1);
    if (!v.node.IsMap()) {
        tls.mode = r_.choice<route_tls_mode>(v, "route TLS mode").value_or(tls.mode);
        return;
    }
    auto m = r_.map(v, config_keys::route_tls);
    if (!m)
        return;
    route_tls_sources_.back() = *m;
    if (auto mode = m->get("mode"))
        tls.mode = r_.choice<route_tls_mode>(*mode, "route TLS mode").value_or(tls.mode);
    if (tls.mode == route_tls_mode::passthrough) {
        for (auto key : config_keys::route_tls)
            if (auto other = m->get(key); other && key != "mode")
                r_.problem(*other, "a passthrough route does not terminate TLS, so " +
                                       std::string(key) + " has no effect; leave it out");
        return;
    }
    read_route_tls_map(*m, tls);
}

void config_builder::read_route_tls_map(yaml_map const& m, route_tls_config& tls)
{
    if (auto s = m.get("min_version"))
        tls.min_version = r_.choice<tls_version>(*s, "TLS version");
    if (auto p = m.get("profile"))
        tls.profile = r_.choice<tls_profile>(*p, "TLS profile");
    read_openssl_list(m, "ciphers", tls.ciphers);
    read_openssl_list(m, "groups", tls.groups);
    read_client_auth(m, tls);
}

void config_builder::read_client_auth(yaml_map const& m, route_tls_config& tls)
{
    auto mode = m.get("client_auth");
    if (mode)
        tls.client_auth =
            r_.choice<client_auth_mode>(*mode, "client_auth").value_or(tls.client_auth);
    auto ca = m.get("client_ca");
    if (!ca) {
        if (mode)
            r_.problem(*mode, "client_auth needs client_ca: the CA certificates that client "
                              "certificates are checked against");
        return;
    }
    auto path = r_.string(*ca);
    if (!path)
        return;
    if (path->empty()) {
        r_.problem(*ca, "expected a file path, got an empty string");
        return;
    }
    auto file = resolve_path(base_dir_, *path);
    if (auto problem = ca_file_problem(file); !problem.empty())
        r_.problem(*ca, std::move(problem));
    else
        tls.client_ca = std::move(file);
}

// A route's settings against the top-level `tls` (read after the routes): `modern` is TLS
// 1.3 only, so a TLS 1.2 floor or TLS 1.2 ciphers beside it would do nothing.
void config_builder::check_route_tls()
{
    route_tls_sources_.resize(cfg_.routes.size());
    for (std::size_t i = 0; i < cfg_.routes.size(); ++i) {
        auto const& source = route_tls_sources_[i];
        auto const& tls = cfg_.routes[i].tls;
        if (!source || tls.profile.value_or(cfg_.tls.profile) != tls_profile::modern)
            continue;
        if (auto s = source->get("min_version"); s && tls.min_version == tls_version::tls1_2)
            r_.problem(*s, "this route's profile is modern (TLS 1.3 only); write min_version: "
                           "\"1.3\" or leave it out");
        if (auto c = source->get("ciphers"); c && !tls.ciphers.empty())
            r_.problem(*c, "ciphers sets TLS 1.2 ciphers, which this route's profile (modern, "
                           "TLS 1.3 only) never uses; leave it out");
    }
}

void config_builder::read_route_name(yaml_map const& m, route_config& route, route_claims& claims)
{
    auto v = required(m, "name");
    if (!v)
        return;
    auto name = r_.string(*v);
    if (!name)
        return;
    if (name->empty()) {
        r_.problem(*v, "a route name must not be empty");
        return;
    }
    route.name = *name;
    auto [it, inserted] = claims.names.emplace(*name, *v);
    if (!inserted)
        r_.problem(*v,
                   "route name " + in_quotes(*name) + " is already used by " + where(it->second));
}

void config_builder::read_route_sni(yaml_value const& list, route_config& route)
{
    auto items = r_.list(list);
    if (!items)
        return;
    for (auto const& item : *items) {
        auto text = r_.string(item);
        if (!text)
            continue;
        auto pattern = lower(*text);
        if (!sni::valid_pattern(pattern)) {
            r_.problem(item, "invalid server name pattern " + in_quotes(*text) +
                                 ": expected a DNS name, optionally starting with \"*.\"");
            continue;
        }
        if (looks_like_ipv4(pattern)) {
            r_.problem(item, "an IP address is not a server name (clients send no SNI for " +
                                 in_quotes(*text) + ")");
            continue;
        }
        route.sni.push_back(std::move(pattern));
        sni_items_.push_back(item);
    }
}

void config_builder::read_alpn_names(yaml_value const& list, std::string_view if_empty,
                                     std::vector<std::string>& out)
{
    auto items = r_.list(list);
    if (!items)
        return;
    if (items->empty() && !if_empty.empty())
        r_.problem(list, std::string(if_empty));
    out.clear();
    for (auto const& item : *items) {
        auto name = r_.string(item);
        if (!name)
            continue;
        if (name->empty() || name->size() > 255)
            r_.problem(item, "an ALPN protocol name must be 1 to 255 bytes long, got " +
                                 std::to_string(name->size()));
        else if (std::find(out.begin(), out.end(), *name) != out.end())
            r_.problem(item, "ALPN protocol " + in_quotes(*name) + " is listed twice");
        else
            out.push_back(*name);
    }
}

void config_builder::claim_route_names(route_config const& route,
                                       std::vector<yaml_value> const& patterns,
                                       std::optional<yaml_value> const& alpn, route_claims& claims)
{
    std::vector<std::string> protocols = route.alpn;
    if (!alpn && route.selector_prefix.empty())
        protocols.emplace_back(); // any protocol (a prefix is claimed in check_selector_routes)
    for (std::size_t i = 0; i < route.sni.size(); ++i) {
        auto const& pattern = route.sni[i];
        for (auto const& protocol : protocols) {
            auto [it, inserted] = claims.sni.emplace(std::pair(pattern, protocol), patterns[i]);
            if (inserted)
                continue;
            r_.problem(patterns[i], "server name " + in_quotes(pattern) +
                                        (protocol.empty() ? std::string()
                                                          : " with ALPN " + in_quotes(protocol)) +
                                        " is already claimed by " + where(it->second));
            break;
        }
    }
}

void config_builder::read_backends(yaml_map const& m, route_config& route)
{
    auto v = m.get("backends");
    if (!v) {
        r_.problem(m.missing("backends"), "missing: a route needs at least one backend");
        return;
    }
    auto items = r_.list(*v);
    if (!items)
        return;
    if (items->empty())
        r_.problem(*v, "a route needs at least one backend");
    std::map<std::string, yaml_value> seen;
    std::size_t backups = 0;
    bool has_primary = false;
    for (auto const& item : *items) {
        auto entry = read_backend(item);
        has_primary = has_primary || entry.primary;
        backups += entry.backup ? 1 : 0;
        if (!entry.backend)
            continue;
        auto [it, inserted] = seen.emplace(canonical_text(entry.backend->address), *entry.address);
        if (!inserted)
            r_.problem(*entry.address, "backend " + entry.backend->address.to_string() +
                                           " is already listed as " + where(it->second));
        if (entry.tls && route.tls.mode == route_tls_mode::passthrough)
            r_.problem(*entry.tls, "a passthrough route relays the client's own TLS to its "
                                   "backends, so a backend of it cannot have tls; leave it out "
                                   "or make the route terminate TLS");
        route.backends.push_back(std::move(*entry.backend));
    }
    // Only when every entry is known to be a backup: one whose `backup` was invalid has
    // its own problem already.
    if (!items->empty() && !has_primary && backups == items->size())
        r_.problem(*v, "at least one primary backend is required: every backend here has "
                       "backup: true, and backups are used only when no primary is up");
}

backend_entry config_builder::read_backend(yaml_value const& item)
{
    auto parse_address = [](std::string_view text) {
        return parse_endpoint(text, {host_rule::ip_or_name, 1});
    };
    backend_entry entry;
    if (!item.node.IsMap()) {
        entry.address = item;
        entry.primary = true;
        if (auto e = r_.parsed(item, "host:port or a map with an address", parse_address)) {
            entry.backend.emplace();
            entry.backend->address = *e;
        }
        return entry;
    }
    auto m = r_.map(item, config_keys::backend);
    if (!m)
        return entry;
    backend_config backend;
    if (auto v = m->get("weight"))
        if (auto n = r_.integer(*v, 1, max_weight))
            backend.weight = static_cast<unsigned>(*n);
    entry.primary = true;
    if (auto v = m->get("backup")) {
        auto backup = r_.boolean(*v);
        backend.backup = backup.value_or(false);
        entry.primary = backup == false;
        entry.backup = backup == true;
    }
    if (auto v = m->get("max_connections"))
        if (auto n = r_.integer(*v, 0, max_count))
            backend.max_connections = static_cast<unsigned>(*n);
    if (auto v = m->get("send_proxy"))
        backend.send_proxy =
            r_.choice<proxy_version>(*v, "PROXY protocol version").value_or(backend.send_proxy);
    entry.address = required(*m, "address");
    std::optional<endpoint> address;
    if (entry.address)
        if (auto e = r_.parsed(*entry.address, "host:port", parse_address))
            address = *e;
    if (auto v = m->get("tls")) {
        entry.tls = v;
        backend.tls = read_backend_tls(*v, address ? &*address : nullptr);
    }
    if (address) {
        backend.address = *address;
        entry.backend = std::move(backend);
    }
    return entry;
}

// `tls: true` (every default), `tls: false` (none), or a map. `sni` defaults to the
// backend's host when that is a name (an IP address gets no SNI unless written).
std::optional<backend_tls_config> config_builder::read_backend_tls(yaml_value const& v,
                                                                   endpoint const* address)
{
    backend_tls_config tls;
    bool sni_written = false;
    if (!v.node.IsMap()) {
        auto on = r_.boolean(v);
        if (!on || !*on)
            return std::nullopt;
    } else if (auto m = r_.map(v, config_keys::backend_tls)) {
        if (auto s = m->get("sni")) {
            sni_written = true;
            if (auto name = r_.string(*s)) {
                auto normal = sni::normalise(*name);
                if (!name->empty() && (normal.empty() || sni::is_wildcard(normal)))
                    r_.problem(*s, in_quotes(*name) + " is not a server name (a DNS name; an "
                                                      "IP address is never sent as SNI)");
                else
                    tls.sni = std::move(normal);
            }
        }
        if (auto a = m->get("alpn"))
            read_alpn_names(*a, "", tls.alpn); // an empty list: no ALPN offered
        if (auto b = m->get("verify"))
            tls.verify = r_.boolean(*b).value_or(true);
        read_backend_tls_files(*m, tls);
    } else {
        return std::nullopt;
    }
    if (!sni_written && address)
        tls.sni = sni::normalise(address->host); // empty for an IP address
    return tls;
}

// `ca`: a PEM file of CA certificates; `cert` and `key` together: the client certificate.
void config_builder::read_backend_tls_files(yaml_map const& m, backend_tls_config& tls)
{
    if (auto ca = m.get("ca")) {
        auto path = r_.string(*ca);
        if (path && path->empty())
            r_.problem(*ca, "expected a file path, got an empty string");
        else if (path) {
            auto file = resolve_path(base_dir_, *path);
            if (auto problem = ca_file_problem(file); !problem.empty())
                r_.problem(*ca, std::move(problem));
            else
                tls.ca = std::move(file);
        }
        if (auto verify = m.get("verify"); verify && !tls.verify)
            r_.problem(*ca, "ca has no effect with verify: false; leave one of them out");
    }
    auto cert = m.get("cert");
    auto key = m.get("key");
    if (!cert && !key)
        return;
    if (!cert || !key) {
        r_.problem(cert ? *cert : *key,
                   cert ? "cert needs key: the private key of the client certificate"
                        : "key needs cert: the client certificate of this private key");
        return;
    }
    auto cert_path = r_.string(*cert);
    auto key_path = r_.string(*key);
    if (!cert_path || !key_path)
        return;
    if (cert_path->empty() || key_path->empty()) {
        r_.problem(cert_path->empty() ? *cert : *key, "expected a file path, got an empty string");
        return;
    }
    auto cert_file = resolve_path(base_dir_, *cert_path);
    auto key_file = resolve_path(base_dir_, *key_path);
    auto check = check_certificate(cert_file, key_file);
    if (!check.cert_error.empty())
        r_.problem(*cert, check.cert_error);
    if (!check.key_error.empty())
        r_.problem(*key, check.key_error);
    if (check.info) {
        tls.cert = std::move(cert_file);
        tls.key = std::move(key_file);
    }
}

void config_builder::read_health(yaml_value const& v, health_config& health)
{
    if (v.node.IsNull()) {
        r_.problem(v, "expected a map, got nothing; write health: {} to check with the defaults");
        return;
    }
    auto m = r_.map(v, config_keys::health);
    if (!m)
        return;
    health.enabled = true;
    auto interval = read_duration(*m, "interval", health.interval, 1ms);
    auto timeout = read_duration(*m, "timeout", health.timeout, 1ms);
    // Compared only when both are good, whether written or defaults.
    bool interval_good = interval || !m->get_even_null("interval");
    bool timeout_good = timeout || !m->get_even_null("timeout");
    if (interval_good && timeout_good && health.timeout >= health.interval) {
        if (timeout)
            r_.problem(*timeout, "expected a timeout shorter than the interval (" +
                                     duration_text(health.interval) +
                                     (interval ? "" : ", the default") + "), got " +
                                     describe(timeout->node));
        else
            r_.problem(*interval, "expected an interval longer than the timeout (" +
                                      duration_text(health.timeout) + ", the default), got " +
                                      describe(interval->node));
    }
    for (auto [key, out] : {std::pair{"rise", &health.rise}, std::pair{"fall", &health.fall}})
        if (auto n = m->get_even_null(key))
            if (auto count = r_.integer(*n, 1, max_health_count))
                *out = static_cast<unsigned>(*count);
    read_health_request(*m, health);
}

void config_builder::read_health_request(yaml_map const& m, health_config& health)
{
    auto selector = m.get_even_null("selector");
    if (selector && selector->node.IsNull()) {
        r_.problem(*selector, "expected a selector, got nothing; write selector: \"\" to request "
                              "the root menu, or leave selector out for a TCP connect check");
    } else if (selector) {
        auto text = r_.string(*selector);
        if (text && text->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
            r_.problem(*selector, "a selector must not contain CR, LF or NUL: it is sent as "
                                  "one request line");
        } else if (text) {
            health.gopher_check = true;
            health.selector = *text;
        }
    }
    auto expect = m.get_even_null("expect");
    if (!expect)
        return;
    auto text = r_.string(*expect);
    if (!text)
        return;
    if (!selector)
        r_.problem(*expect, "expect needs a selector: without one the check is a TCP connect "
                            "and reads no reply");
    else if (text->empty())
        r_.problem(*expect, "an empty expect matches every reply; leave it out");
    else
        health.expect = *text;
}

void config_builder::read_tls(yaml_value const& v)
{
    auto m = r_.map(v, config_keys::tls);
    if (!m)
        return;
    if (auto a = m->get_even_null("alpn"))
        read_alpn_names(*a, "expected at least one ALPN protocol name (the default is [gopher])",
                        cfg_.tls.alpn);
    if (auto b = m->get("require_alpn"))
        cfg_.tls.require_alpn = r_.boolean(*b).value_or(false);
    if (auto s = m->get("min_version"))
        cfg_.tls.min_version =
            r_.choice<tls_version>(*s, "TLS version").value_or(cfg_.tls.min_version);
    if (auto p = m->get("profile"))
        cfg_.tls.profile = r_.choice<tls_profile>(*p, "TLS profile").value_or(cfg_.tls.profile);
    if (auto u = m->get("unknown_sni"))
        cfg_.tls.unknown_sni =
            r_.choice<unknown_sni_policy>(*u, "SNI policy").value_or(cfg_.tls.unknown_sni);
    read_openssl_list(*m, "ciphers", cfg_.tls.ciphers);
    read_openssl_list(*m, "groups", cfg_.tls.groups);
    // Null or absent: keys made and rotated by the process.
    if (auto k = m->get("ticket_keys"))
        read_ticket_keys(*k);
    read_duration(*m, "ticket_rotation", cfg_.tls.ticket_rotation, min_ticket_rotation);
    check_tls_profile(*m);
}

void config_builder::read_openssl_list(yaml_map const& m, std::string_view key, std::string& out)
{
    auto v = m.get(key);
    if (!v)
        return;
    auto text = r_.string(*v);
    if (!text)
        return;
    bool groups = key == "groups";
    if (text->empty())
        r_.problem(*v, "expected a colon-separated list of " +
                           std::string(groups ? "groups" : "ciphers") +
                           ", got an empty string; leave it out for the profile's");
    else if (!openssl_accepts(*text, groups))
        r_.problem(*v, groups ? "expected groups OpenSSL knows, like \"X25519:P-256\", got " +
                                    describe(v->node)
                              : "expected an OpenSSL cipher list that selects at least one TLS "
                                "1.2 cipher, got " +
                                    describe(v->node));
    else
        out = *text;
}

void config_builder::read_ticket_keys(yaml_value const& v)
{
    auto path = r_.string(v);
    if (!path)
        return;
    if (path->empty()) {
        r_.problem(v, "expected a file path, got an empty string");
        return;
    }
    auto file = resolve_path(base_dir_, *path);
    if (auto problem = ticket_keys_problem(file); !problem.empty())
        r_.problem(v, std::move(problem));
    else
        cfg_.tls.ticket_keys = std::move(file);
}

// `modern` is TLS 1.3 only: a TLS 1.2 floor or TLS 1.2 ciphers beside it would do nothing.
void config_builder::check_tls_profile(yaml_map const& m)
{
    if (cfg_.tls.profile != tls_profile::modern)
        return;
    if (auto s = m.get("min_version"); s && s->node.IsScalar() && s->node.Scalar() == "1.2")
        r_.problem(*s, "profile: modern is TLS 1.3 only; write min_version: \"1.3\" or leave it "
                       "out");
    if (auto c = m.get("ciphers"); c && !cfg_.tls.ciphers.empty())
        r_.problem(*c, "ciphers sets TLS 1.2 ciphers, which profile: modern (TLS 1.3 only) "
                       "never uses; leave it out");
}

void config_builder::read_limits(yaml_value const& v)
{
    auto m = r_.map(v, config_keys::limits);
    if (!m)
        return;
    read_count(*m, "max_connections", cfg_.limits.max_connections);
    read_count(*m, "max_connections_per_ip", cfg_.limits.max_connections_per_ip);
    read_count(*m, "handshakes_per_second", cfg_.limits.handshakes_per_second);
    read_new_connection_rate(*m);
}

// The burst defaults to the rate's count (`20/s`: 20 at once); a burst without a rate
// would do nothing, so it is refused.
void config_builder::read_new_connection_rate(yaml_map const& m)
{
    auto& limits = cfg_.limits;
    if (auto v = m.get_even_null("new_connections_per_ip"))
        if (auto rate = r_.parsed(*v, "a rate like 20/s", parse_rate))
            limits.new_connections_per_ip = *rate;
    limits.new_connections_burst = limits.new_connections_per_ip.count;
    auto v = m.get_even_null("new_connections_burst");
    if (!v)
        return;
    auto n = r_.integer(*v, 1, max_rate_count);
    if (n && !m.get("new_connections_per_ip"))
        r_.problem(*v, "new_connections_burst needs new_connections_per_ip (a rate like 20/s)");
    else if (n && limits.new_connections_per_ip.count == 0)
        r_.problem(*v, "new_connections_burst has no effect: new_connections_per_ip is 0 (no "
                       "limit)");
    else if (n)
        limits.new_connections_burst = static_cast<unsigned>(*n);
}

void config_builder::read_count(yaml_map const& m, std::string_view key, unsigned& out)
{
    if (auto v = m.get_even_null(key))
        if (auto n = r_.integer(*v, 0, max_count))
            out = static_cast<unsigned>(*n);
}

void config_builder::read_timeouts(yaml_value const& v)
{
    auto m = r_.map(v, config_keys::timeouts);
    if (!m)
        return;
    auto& timeouts = cfg_.timeouts;
    read_duration(*m, "handshake", timeouts.handshake, 1ms);
    read_duration(*m, "connect", timeouts.connect, 1ms);
    read_duration(*m, "idle", timeouts.idle, 1ms);
    read_duration(*m, "shutdown_grace", timeouts.shutdown_grace, 0ms);
    read_duration(*m, "half_closed", timeouts.half_closed, 1ms);
}

// A written duration of at least `min` goes to `out`; returns where it was written then.
// Null is a problem here (a duration section's keys have no "off").
std::optional<yaml_value> config_builder::read_duration(yaml_map const& m, std::string_view key,
                                                        duration& out, duration min)
{
    auto v = m.get_even_null(key);
    if (!v)
        return std::nullopt;
    auto d = r_.parsed(*v, "a duration with a unit (ms, s, m, h)", parse_duration);
    if (!d)
        return std::nullopt;
    if (*d < min) {
        r_.problem(*v, (min == 1ms ? std::string("expected a duration greater than zero")
                                   : "expected a duration of at least " + duration_text(min)) +
                           ", got " + describe(v->node));
        return std::nullopt;
    }
    out = *d;
    return v;
}

void config_builder::read_admin(yaml_value const& v)
{
    auto m = r_.map(v, config_keys::admin);
    if (!m)
        return;
    if (auto a = m->get_even_null("address"))
        if (auto e = r_.parsed(*a, "host:port", [](std::string_view text) {
                return parse_endpoint(text, {host_rule::ip_or_name, 0});
            }))
            cfg_.admin.address = *e;
}

void config_builder::read_logging(yaml_value const& v)
{
    auto m = r_.map(v, config_keys::logging);
    if (!m)
        return;
    auto& logging = cfg_.logging;
    if (auto l = m->get_even_null("level"))
        logging.level = r_.choice<log_level>(*l, "log level").value_or(logging.level);
    if (auto f = m->get_even_null("format"))
        logging.format = r_.choice<log_format>(*f, "log format").value_or(logging.format);
    // Null or empty: access log to stderr. `off` (or false): none; a file named so is
    // written `./off`.
    if (auto a = m->get("access"))
        if (auto path = r_.string(*a); path && !path->empty()) {
            if (*path == "off" || *path == "false")
                logging.access_off = true;
            else if (*path == "on" || *path == "true")
                r_.problem(*a, "expected a file path, or off for no access log (an empty "
                               "value logs to stderr)");
            else
                logging.access = resolve_path(base_dir_, *path);
        }
}

void config_builder::check_listeners()
{
    std::map<std::string, yaml_value> addresses;
    for (std::size_t i = 0; i < cfg_.listeners.size(); ++i) {
        auto const& listener = cfg_.listeners[i];
        auto const& source = listener_sources_[i];
        if (listener.tls && source.tls_valid && cfg_.certificates.empty())
            r_.problem(source.tls.value_or(source.at),
                       "this listener accepts TLS but no certificates are configured; add "
                       "certificates or set tls: false");
        auto const* route = cfg_.find_route(listener.default_route);
        if (source.default_route && !listener.default_route.empty() && !route)
            r_.problem(*source.default_route,
                       "no route is named " + in_quotes(listener.default_route));
        // A plaintext client has no certificate: it must not reach a route that asks for one.
        if (route && listener.plaintext && !route->tls.client_ca.empty() &&
            route->tls.client_auth == client_auth_mode::required)
            r_.problem(*source.default_route,
                       "route " + in_quotes(route->name) +
                           " requires client certificates (client_auth: required), but this "
                           "listener takes plaintext clients, which have none, to it; set "
                           "plaintext: false or choose another default_route");
        if (source.address && listener.address.port != 0) {
            auto [it, inserted] = addresses.emplace(listener.address.to_string(), *source.address);
            if (!inserted)
                r_.problem(*source.address, "address " + listener.address.to_string() +
                                                " is already used by " + where(it->second));
        }
    }
}

// selector_prefix, strip_prefix and rewrite_menus: each alone, then how they combine.
void config_builder::read_route_selector(yaml_map const& m, route_config& route)
{
    auto prefix = m.get("selector_prefix"); // read before the name claims
    auto strip = m.get("strip_prefix");
    if (strip)
        route.strip_prefix = r_.boolean(*strip).value_or(false);
    auto rewrite = m.get_even_null("rewrite_menus");
    if (rewrite)
        route.rewrite_menus = read_rewrite_menus(*rewrite);
    if (prefix && !route.alpn.empty())
        r_.problem(*prefix, "selector_prefix cannot be combined with alpn: a protocol a route "
                            "names is spliced without reading a selector");
    if (prefix && route.tls.mode == route_tls_mode::passthrough)
        r_.problem(*prefix, "selector_prefix cannot be combined with tls: passthrough: a "
                            "passed-through connection has no selector the router can read");
    if (strip && route.strip_prefix && !prefix)
        r_.problem(*strip, "strip_prefix needs selector_prefix: there is no prefix to strip");
    if (rewrite && !route.strip_prefix)
        r_.problem(*rewrite, "rewrite_menus needs strip_prefix: true: a backend that gets the "
                             "whole selector writes menus with the prefix already");
}

void config_builder::read_selector_prefix(yaml_value const& v, route_config& route)
{
    std::vector<yaml_value> items;
    if (v.node.IsScalar()) {
        items.push_back(v);
    } else if (auto list = r_.list(v)) {
        items = std::move(*list);
        if (items.empty())
            r_.problem(v, "expected at least one selector prefix (leave selector_prefix out "
                          "for the fallback route)");
    }
    auto& sources = route_selectors_.back().prefixes;
    for (auto const& item : items) {
        auto text = r_.string(item);
        if (!text)
            continue;
        if (auto problem = selector::prefix_problem(*text); !problem.empty()) {
            r_.problem(item, problem);
            continue;
        }
        auto seen = std::find(route.selector_prefix.begin(), route.selector_prefix.end(), *text);
        if (seen != route.selector_prefix.end()) {
            r_.problem(item, "selector prefix " + in_quotes(*text) + " is listed twice");
            continue;
        }
        route.selector_prefix.push_back(*text);
        sources.push_back(item);
    }
}

std::optional<endpoint> config_builder::read_rewrite_menus(yaml_value const& v)
{
    if (v.node.IsNull()) {
        r_.problem(v, "expected a map {host: ..., port: ...}: the public address menus point at");
        return std::nullopt;
    }
    auto m = r_.map(v, config_keys::rewrite_menus);
    if (!m)
        return std::nullopt;
    endpoint e;
    auto host = required(*m, "host");
    auto port = required(*m, "port");
    if (host)
        if (auto text = r_.string(*host)) {
            if (text->empty() ||
                text->find_first_of(std::string_view("\t\r\n\0", 4)) != std::string::npos)
                r_.problem(*host, "expected a host name for menus: not empty, no TAB, CR, LF "
                                  "or NUL");
            e.host = *text;
        }
    if (port)
        if (auto n = r_.integer(*port, 1, 65535))
            e.port = static_cast<std::uint16_t>(*n);
    if (e.host.empty() || e.port == 0)
        return std::nullopt;
    return e;
}

// Across routes: a prefix claimed twice for one server name (or twice among the routes
// without sni) can never win the second time; a listener's default route is the
// fallback for selectors no prefix matches, so it must not have a prefix itself.
void config_builder::check_selector_routes()
{
    std::map<std::pair<std::string, std::string>, yaml_value> claims; // (name, prefix)
    for (std::size_t i = 0; i < cfg_.routes.size() && i < route_selectors_.size(); ++i) {
        auto const& route = cfg_.routes[i];
        auto const& sources = route_selectors_[i].prefixes;
        std::vector<std::string> scopes = route.sni;
        if (scopes.empty())
            scopes.emplace_back(); // the routes without sni
        for (std::size_t p = 0; p < route.selector_prefix.size() && p < sources.size(); ++p)
            for (auto const& scope : scopes) {
                auto [it, inserted] =
                    claims.emplace(std::pair(scope, route.selector_prefix[p]), sources[p]);
                if (inserted)
                    continue;
                r_.problem(sources[p],
                           "selector prefix " + in_quotes(route.selector_prefix[p]) +
                               (scope.empty() ? std::string(" among the routes without sni")
                                              : " for server name " + in_quotes(scope)) +
                               " is already claimed by " + where(it->second) +
                               ": this one can never win");
                break;
            }
    }
    for (std::size_t i = 0; i < cfg_.listeners.size(); ++i) {
        auto const& listener = cfg_.listeners[i];
        auto const* route = cfg_.find_route(listener.default_route);
        if (route && !route->selector_prefix.empty() && listener_sources_[i].default_route)
            r_.problem(*listener_sources_[i].default_route,
                       "default route " + in_quotes(route->name) +
                           " has a selector_prefix: a default route is the fallback for "
                           "selectors no prefix matches; give it no selector_prefix");
    }
    check_prefix_only_names();
}

// A TLS route is chosen in the handshake, before the selector is read: a server name
// whose routes all have prefixes falls through to the default route there, and a
// passthrough default would take the connection before any prefix could match.
void config_builder::check_prefix_only_names()
{
    route_config const* passthrough_default = nullptr;
    for (auto const& listener : cfg_.listeners)
        if (auto const* r = cfg_.find_route(listener.default_route))
            if (r->tls.mode == route_tls_mode::passthrough)
                passthrough_default = r;
    if (!passthrough_default)
        return;
    std::set<std::string> with_fallback;
    for (auto const& route : cfg_.routes)
        if (route.selector_prefix.empty() && route.alpn.empty())
            with_fallback.insert(route.sni.begin(), route.sni.end());
    std::set<std::string> reported;
    for (std::size_t i = 0; i < cfg_.routes.size() && i < route_selectors_.size(); ++i)
        for (auto const& pattern : cfg_.routes[i].sni)
            if (!route_selectors_[i].prefixes.empty() && !with_fallback.count(pattern) &&
                reported.insert(pattern).second)
                r_.problem(route_selectors_[i].prefixes.front(),
                           "server name " + in_quotes(pattern) +
                               " has only selector_prefix routes, and the default route " +
                               in_quotes(passthrough_default->name) +
                               " is tls: passthrough: its TLS clients would be passed through "
                               "before their selector is read; add a route for " +
                               in_quotes(pattern) + " without selector_prefix");
}

config_problem whole_file_problem(std::string const& file, YAML::Mark const& mark,
                                  std::string message)
{
    int line = mark.line >= 0 ? mark.line + 1 : 0;
    int column = line == 0 ? 0 : mark.column + 1;
    return {file, line, column, "", std::move(message)};
}

// Sees documents start and nothing else: for the bounded pass in `check_one_document`.
class document_starts final : public YAML::EventHandler
{
public:
    std::vector<YAML::Mark> marks;
    void OnDocumentStart(YAML::Mark const& mark) override { marks.push_back(mark); }
    void OnDocumentEnd() override {}
    void OnNull(YAML::Mark const&, YAML::anchor_t) override {}
    void OnAlias(YAML::Mark const&, YAML::anchor_t) override {}
    void OnScalar(YAML::Mark const&, std::string const&, YAML::anchor_t,
                  std::string const&) override
    {}
    void OnSequenceStart(YAML::Mark const&, std::string const&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override
    {}
    void OnSequenceEnd() override {}
    void OnMapStart(YAML::Mark const&, std::string const&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override
    {}
    void OnMapEnd() override {}
};

// yaml-cpp 0.7 never finishes LoadAll on a stray top-level `,` (it keeps making empty
// documents at the same place: upstream issue 1040). One bounded event pass first: stop
// at the second document, and call a document that starts where the previous one did
// a syntax error.
std::optional<config_problem> check_one_document(std::string_view text, std::string const& file)
{
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    document_starts seen;
    while (seen.marks.size() < 2 && parser.HandleNextDocument(seen)) {
    }
    if (seen.marks.size() < 2)
        return std::nullopt;
    auto const& a = seen.marks[0];
    auto const& b = seen.marks[1];
    if (a.pos == b.pos)
        return whole_file_problem(file, b, "YAML syntax error: unexpected character");
    return whole_file_problem(
        file, b,
        "expected one YAML document, found a second one here (`---` or a stray character)");
}

// The one document in `text`, or the problem that stops loading before validation.
std::variant<YAML::Node, config_problem> parse_document(std::string_view text,
                                                        std::string const& file)
{
    auto none = YAML::Mark::null_mark();
    if (text.size() > max_file_size)
        return whole_file_problem(file, none, "the file is larger than 1 MiB");
    std::vector<YAML::Node> documents;
    try {
        if (auto p = check_one_document(text, file))
            return *p;
        documents = YAML::LoadAll(std::string(text));
    } catch (YAML::DeepRecursion const& e) {
        return whole_file_problem(file, e.mark, "nesting too deep");
    } catch (YAML::ParserException const& e) {
        return whole_file_problem(file, e.mark, "YAML syntax error: " + e.msg);
    }
    if (documents.empty() || (documents.size() == 1 && documents[0].IsNull()))
        return whole_file_problem(file, none, "the file is empty");
    if (documents.size() > 1)
        return whole_file_problem(file, documents[1].Mark(),
                                  "expected one YAML document, found " +
                                      std::to_string(documents.size()));
    if (count_yaml_nodes(documents[0], max_yaml_nodes) > max_yaml_nodes)
        return whole_file_problem(file, none,
                                  "too many YAML nodes (alias expansion?): more than " +
                                      std::to_string(max_yaml_nodes));
    return documents[0];
}

config_result load_document(std::string_view text, std::string const& source_name,
                            std::string const& base_dir)
{
    auto document = parse_document(text, source_name);
    if (auto* p = std::get_if<config_problem>(&document))
        return problems{std::move(*p)};
    yaml_reader reader(source_name);
    config_builder builder(reader, base_dir);
    builder.read(yaml_root(std::get<YAML::Node>(document)));
    if (reader.has_problems())
        return reader.take_problems();
    auto cfg = builder.take();
    cfg.source = source_name;
    return cfg;
}

std::string base_dir_of(std::string const& path)
{
    std::error_code ec;
    auto absolute = std::filesystem::absolute(path, ec);
    if (ec)
        return std::filesystem::path(path).parent_path().string();
    return absolute.parent_path().string();
}

config_result internal_error(std::string const& file, char const* what)
{
    return problems{whole_file_problem(file, YAML::Mark::null_mark(),
                                       std::string("internal error while loading: ") + what)};
}

} // namespace

std::string config_problem::to_string() const
{
    std::string out = file;
    if (line > 0) {
        out += ":" + std::to_string(line);
        if (column > 0)
            out += ":" + std::to_string(column);
    }
    out += ": ";
    if (!key.empty())
        out += key + ": ";
    return out + message;
}

config_result load_config_text(std::string_view text, std::string const& source_name,
                               std::string const& base_dir)
{
    try {
        return load_document(text, source_name, base_dir);
    } catch (std::exception const& e) {
        return internal_error(source_name, e.what());
    } catch (...) {
        return internal_error(source_name, "unknown exception");
    }
}

config_result load_config(std::string const& path)
{
    try {
        auto text = read_small_file(path, max_file_size);
        if (!text)
            return problems{whole_file_problem(path, YAML::Mark::null_mark(), text.error())};
        return load_config_text(text.value(), path, base_dir_of(path));
    } catch (std::exception const& e) {
        return internal_error(path, e.what());
    } catch (...) {
        return internal_error(path, "unknown exception");
    }
}

} // namespace got
