#include "config_loader.hpp"

#include "address.hpp"
#include "certificate_info.hpp"
#include "duration.hpp"
#include "small_file.hpp"
#include "sni.hpp"
#include "yaml_reader.hpp"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <map>
#include <optional>
#include <yaml-cpp/depthguard.h>

namespace got {

namespace {

constexpr std::size_t max_file_size = std::size_t{1} << 20;
constexpr std::size_t max_yaml_nodes = 100'000;
constexpr long long max_threads = 1024;

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

// Where a listener's settings were written, for the checks that need other sections.
struct listener_source
{
    yaml_value at;
    std::optional<yaml_value> address;
    std::optional<yaml_value> tls;
    std::optional<yaml_value> default_route;
    bool tls_valid = true; // false: `tls` was not a boolean, so no check depends on it
};

// Names seen so far across routes, to refuse a second claim.
struct route_claims
{
    std::map<std::string, yaml_value> names;
    std::map<std::string, yaml_value> sni;
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
    void read_certificate(yaml_value const& item, std::optional<yaml_value>& first_default);
    void read_certificate_files(yaml_map const& m, certificate_config& c);
    void read_route(yaml_value const& item, route_claims& claims);
    void read_route_name(yaml_map const& m, route_config& route, route_claims& claims);
    void read_route_sni(yaml_value const& list, route_config& route, route_claims& claims);
    void read_backends(yaml_map const& m, route_config& route);
    void read_tls(yaml_value const& v);
    void read_alpn(yaml_value const& v);
    void read_timeouts(yaml_value const& v);
    void read_timeout(yaml_map const& m, std::string_view key, duration& out, bool allow_zero);
    void read_admin(yaml_value const& v);
    void read_logging(yaml_value const& v);
    void check_listeners();

    yaml_reader& r_;
    std::string base_dir_;
    config cfg_;
    std::vector<listener_source> listener_sources_;
};

void config_builder::read(yaml_value const& root)
{
    auto top = r_.map(root, {"threads", "user", "group", "listeners", "certificates", "routes",
                             "tls", "timeouts", "admin", "logging"});
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
    if (auto v = top->get("timeouts"))
        read_timeouts(*v);
    if (auto v = top->get("admin"))
        read_admin(*v);
    if (auto v = top->get("logging"))
        read_logging(*v);
    check_listeners();
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
    if (auto m = r_.map(item, {"address", "plaintext", "tls", "default_route"})) {
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
        if (!listener.plaintext && !listener.tls)
            r_.problem(item, "a listener must accept plaintext, TLS or both, but plaintext and "
                             "tls are both false");
    }
    cfg_.listeners.push_back(std::move(listener));
    listener_sources_.push_back(std::move(source));
}

void config_builder::read_certificate(yaml_value const& item,
                                      std::optional<yaml_value>& first_default)
{
    certificate_config c;
    if (auto m = r_.map(item, {"cert", "key", "default"})) {
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
    }
}

void config_builder::read_route(yaml_value const& item, route_claims& claims)
{
    route_config route;
    if (auto m = r_.map(item, {"name", "sni", "backends", "balance"})) {
        read_route_name(*m, route, claims);
        if (auto v = m->get("sni"))
            read_route_sni(*v, route, claims);
        read_backends(*m, route);
        if (auto v = m->get("balance"))
            route.balance =
                r_.choice<balance_policy>(*v, "balance",
                                          {{"round_robin", balance_policy::round_robin},
                                           {"least_connections", balance_policy::least_connections},
                                           {"random", balance_policy::random},
                                           {"source_hash", balance_policy::source_hash}})
                    .value_or(route.balance);
    }
    cfg_.routes.push_back(std::move(route));
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

void config_builder::read_route_sni(yaml_value const& list, route_config& route,
                                    route_claims& claims)
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
        auto [it, inserted] = claims.sni.emplace(pattern, item);
        if (!inserted)
            r_.problem(item, "server name " + in_quotes(pattern) + " is already claimed by " +
                                 where(it->second));
        route.sni.push_back(std::move(pattern));
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
    for (auto const& item : *items) {
        auto e = r_.parsed(item, "host:port", [](std::string_view text) {
            return parse_endpoint(text, {host_rule::ip_or_name, 1});
        });
        if (!e)
            continue;
        backend_config backend;
        backend.address = *e;
        route.backends.push_back(std::move(backend));
    }
}

void config_builder::read_tls(yaml_value const& v)
{
    auto m = r_.map(v, {"alpn", "require_alpn", "min_version"});
    if (!m)
        return;
    if (auto a = m->get_even_null("alpn"))
        read_alpn(*a);
    if (auto b = m->get("require_alpn"))
        cfg_.tls.require_alpn = r_.boolean(*b).value_or(false);
    if (auto s = m->get("min_version"))
        cfg_.tls.min_version =
            r_.choice<tls_version>(*s, "TLS version",
                                   {{"1.2", tls_version::tls1_2}, {"1.3", tls_version::tls1_3}})
                .value_or(cfg_.tls.min_version);
}

void config_builder::read_alpn(yaml_value const& v)
{
    auto items = r_.list(v);
    if (!items)
        return;
    if (items->empty())
        r_.problem(v, "expected at least one ALPN protocol name (the default is [gopher])");
    cfg_.tls.alpn.clear();
    for (auto const& item : *items) {
        auto name = r_.string(item);
        if (name && (name->empty() || name->size() > 255))
            r_.problem(item, "an ALPN protocol name must be 1 to 255 bytes long, got " +
                                 std::to_string(name->size()));
        else if (name)
            cfg_.tls.alpn.push_back(*name);
    }
}

void config_builder::read_timeouts(yaml_value const& v)
{
    auto m = r_.map(v, {"handshake", "connect", "idle", "shutdown_grace"});
    if (!m)
        return;
    read_timeout(*m, "handshake", cfg_.timeouts.handshake, false);
    read_timeout(*m, "connect", cfg_.timeouts.connect, false);
    read_timeout(*m, "idle", cfg_.timeouts.idle, false);
    read_timeout(*m, "shutdown_grace", cfg_.timeouts.shutdown_grace, true);
}

void config_builder::read_timeout(yaml_map const& m, std::string_view key, duration& out,
                                  bool allow_zero)
{
    auto v = m.get_even_null(key);
    if (!v)
        return;
    auto d = r_.parsed(*v, "a duration with a unit (ms, s, m, h)", parse_duration);
    if (!d)
        return;
    if (!allow_zero && d->count() == 0)
        r_.problem(*v, "expected a duration greater than zero, got " + describe(v->node));
    else
        out = *d;
}

void config_builder::read_admin(yaml_value const& v)
{
    auto m = r_.map(v, {"address"});
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
    auto m = r_.map(v, {"level", "format", "access"});
    if (!m)
        return;
    auto& logging = cfg_.logging;
    if (auto l = m->get_even_null("level"))
        logging.level = r_.choice<log_level>(*l, "log level",
                                             {{"debug", log_level::debug},
                                              {"info", log_level::info},
                                              {"warning", log_level::warning},
                                              {"error", log_level::error}})
                            .value_or(logging.level);
    if (auto f = m->get_even_null("format"))
        logging.format =
            r_.choice<log_format>(*f, "log format",
                                  {{"text", log_format::text}, {"json", log_format::json}})
                .value_or(logging.format);
    // Null or empty: access log to stderr.
    if (auto a = m->get("access"))
        if (auto path = r_.string(*a); path && !path->empty())
            logging.access = resolve_path(base_dir_, *path);
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
        if (source.default_route && !listener.default_route.empty() &&
            !cfg_.find_route(listener.default_route))
            r_.problem(*source.default_route,
                       "no route is named " + in_quotes(listener.default_route));
        if (source.address && listener.address.port != 0) {
            auto [it, inserted] = addresses.emplace(listener.address.to_string(), *source.address);
            if (!inserted)
                r_.problem(*source.address, "address " + listener.address.to_string() +
                                                " is already used by " + where(it->second));
        }
    }
}

config_problem whole_file_problem(std::string const& file, YAML::Mark const& mark,
                                  std::string message)
{
    int line = mark.line >= 0 ? mark.line + 1 : 0;
    int column = line == 0 ? 0 : mark.column + 1;
    return {file, line, column, "", std::move(message)};
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
