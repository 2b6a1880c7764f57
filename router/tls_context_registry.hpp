// Server TLS contexts, one per configured certificate, and the choice between them.
//
// Every SSL_CTX is built by the same factory (`make_context`): SSL_set_SSL_CTX in
// the SNI callback swaps only the certificate and key, so versions, ciphers, ALPN
// and callbacks must be identical on all of them. The registry is part of a config
// snapshot: a session keeps the snapshot (and so these contexts) alive while the
// handshake runs. Callback arguments carry `this`; Asio's app-data slots are never
// touched.
#pragma once

#include "common/config.hpp"
#include "common/route_table.hpp"
#include "route_tls_policy.hpp"

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace got {

struct tls_hello_notes;

class tls_context_registry
{
public:
    // Builds every context; on failure returns nullptr and sets `error`. `routes`
    // (same snapshot, outlives the registry) decides which names are known for
    // `tls.unknown_sni: reject`.
    static std::unique_ptr<tls_context_registry> build(config const& cfg, route_table const& routes,
                                                       std::string& error);

    tls_context_registry(tls_context_registry const&) = delete;
    tls_context_registry& operator=(tls_context_registry const&) = delete;

    // The context a new TLS stream starts with (the default certificate's).
    boost::asio::ssl::context& initial_context() { return *contexts_[default_index_]; }

    // Whether a route passes TLS through (the ClientHello callback then looks for it).
    bool has_passthrough() const noexcept { return has_passthrough_; }

    // Exact name, then one-label wildcard, then the default certificate.
    // `server_name` is normalised; empty means no SNI.
    SSL_CTX* select(std::string_view server_name) const;

private:
    tls_context_registry(tls_config const& settings, route_table const& routes);
    bool add_certificate(certificate_config const& cert, std::string& error);
    static bool load_key_pair(SSL_CTX* native, certificate_config const& cert, std::string& error);

    static int on_servername(SSL* ssl, int* alert, void* arg);
    static int on_alpn(SSL* ssl, unsigned char const** out, unsigned char* outlen,
                       unsigned char const* in, unsigned int inlen, void* arg);
    static int on_client_hello(SSL* ssl, int* alert, void* arg);
    static int on_new_ticket(SSL* ssl, void* arg);
    static SSL_TICKET_RETURN on_ticket(SSL* ssl, SSL_SESSION* session, unsigned char const* name,
                                       std::size_t name_len, SSL_TICKET_STATUS status, void* arg);
    bool known_name(std::string_view server_name) const;
    // The ClientHello (name, ALPN list, listener default) matches a passthrough route.
    bool passes_through(tls_hello_notes const& notes) const;
    // The route the ClientHello matches, when it has its own TLS settings: applied to
    // `ssl` and noted.
    void apply_route_settings(tls_hello_notes& notes, SSL* ssl) const;

    tls_config settings_;
    route_table const& routes_;
    std::vector<std::unique_ptr<boost::asio::ssl::context>> contexts_;
    std::unordered_map<std::string, SSL_CTX*> exact_;
    std::unordered_map<std::string, SSL_CTX*> wildcard_;
    std::size_t default_index_ = 0;
    bool has_passthrough_ = false;
    bool has_alpn_routes_ = false; // routes that name ALPN protocols
    // By route index: the route's own TLS settings, or null (the top-level `tls` ones).
    std::vector<std::unique_ptr<route_tls_policy>> policies_;
    bool has_policies_ = false;
};

// The normalised server name the client sent (empty: none or not a name).
std::string server_name_of(SSL* ssl);

inline constexpr std::string_view goh_alpn = "http/1.1";

// Why our own callbacks refused a handshake, so logs and metrics can say so.
enum class refusal
{
    none,
    alpn,         // ALPN offered without ours, or required and missing
    unknown_name, // tls.unknown_sni: reject
};

// What one server handshake's callbacks are told and learn, kept by the session for the
// handshake's length (not on the SSL: an idle connection holds none of it, and the SSL
// no ex_data at all).
struct tls_hello_notes
{
    // Told: the accepting listener's default route, for routing in the ClientHello
    // callback (a passthrough route may be the default; it outlives the handshake), and
    // whether the listener serves GoH (the ALPN callback then also selects `http/1.1`,
    // goh_alpn, after the protocols of `tls.alpn`).
    std::string const* default_route = nullptr;
    bool goh = false;
    // Learnt: the normalised server name of the ClientHello (also when the handshake
    // stopped there), the ALPN protocols offered in the client's order (empty: no ALPN
    // extension, or no route of the snapshot matches on ALPN or passes TLS through, so
    // none was kept), the route settings applied, and why a callback refused.
    std::string name;
    std::vector<std::string> alpn;
    route_tls_policy const* policy = nullptr;
    refusal why = refusal::none;
};

// Points `ssl`'s callbacks at `notes` (null: at none from now on): through the
// tls_stream that reads the SSL, or, for an SSL read otherwise (the tests' in-memory
// handshakes), an ex_data slot.
void attach_hello_notes(SSL* ssl, tls_hello_notes* notes);

} // namespace got
