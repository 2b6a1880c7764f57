// The keys of each map in the config file, one table per map: the loader accepts
// exactly these (any other key is an error, with a "did you mean"), and a unit test
// checks that /config (config_json.cpp) shows exactly these, so a key cannot be read
// without being shown, or shown under another name.
#pragma once

#include <array>
#include <string_view>

namespace got::config_keys {

using sv = std::string_view;

inline constexpr std::array<sv, 11> top{"threads",      "user",   "group",  "listeners",
                                        "certificates", "routes", "tls",    "limits",
                                        "timeouts",     "admin",  "logging"};
inline constexpr std::array<sv, 9> listener{"address",       "plaintext",      "tls",
                                            "default_route", "proxy_protocol", "selector_vhost",
                                            "allow",         "deny",           "goh"};
inline constexpr std::array<sv, 4> goh{"path", "cors_origin", "max_requests", "keepalive"};
inline constexpr std::array<sv, 2> proxy_protocol{"accept", "from"};
inline constexpr std::array<sv, 3> certificate{"cert", "key", "default"};
inline constexpr std::array<sv, 13> route{
    "name", "sni",   "backends", "balance",         "health",       "retries",      "alpn",
    "tls",  "allow", "deny",     "selector_prefix", "strip_prefix", "rewrite_menus"};
inline constexpr std::array<sv, 2> rewrite_menus{"host", "port"};
inline constexpr std::array<sv, 7> route_tls{"mode",   "min_version", "profile",    "ciphers",
                                             "groups", "client_ca",   "client_auth"};
inline constexpr std::array<sv, 6> backend{"address",         "weight",     "backup",
                                           "max_connections", "send_proxy", "tls"};
inline constexpr std::array<sv, 6> backend_tls{"sni", "alpn", "verify", "ca", "cert", "key"};
inline constexpr std::array<sv, 6> health{"interval", "timeout",  "rise",
                                          "fall",     "selector", "expect"};
inline constexpr std::array<sv, 9> tls{"alpn",    "require_alpn", "min_version",
                                       "profile", "unknown_sni",  "ciphers",
                                       "groups",  "ticket_keys",  "ticket_rotation"};
inline constexpr std::array<sv, 5> limits{"max_connections", "max_connections_per_ip",
                                          "handshakes_per_second", "new_connections_per_ip",
                                          "new_connections_burst"};
inline constexpr std::array<sv, 5> timeouts{"handshake", "connect", "idle", "shutdown_grace",
                                            "half_closed"};
inline constexpr std::array<sv, 1> admin{"address"};
inline constexpr std::array<sv, 3> logging{"level", "format", "access"};

} // namespace got::config_keys
