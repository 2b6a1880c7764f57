#include "tls_context_registry.hpp"

#include "common/client_hello_ext.hpp"
#include "common/log.hpp"
#include "common/sni.hpp"
#include "openssl_text.hpp"
#include "ticket_keys.hpp"
#include "tls_stream.hpp"

#include <cstdint>
#include <openssl/ssl.h>

namespace got {

namespace ssl = boost::asio::ssl;

namespace {

// For an SSL that no tls_stream reads (the tests' in-memory handshakes).
int notes_index()
{
    static int const index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

tls_hello_notes* notes_of(SSL* ssl)
{
    if (auto* stream = tls_stream::of(ssl))
        return stream->hello_notes;
    return static_cast<tls_hello_notes*>(SSL_get_ex_data(ssl, notes_index()));
}

void set_refusal(SSL* ssl, refusal r)
{
    if (auto* notes = notes_of(ssl))
        notes->why = r;
}

route_tls_policy const* policy_of(SSL* ssl)
{
    auto const* notes = notes_of(ssl);
    return notes ? notes->policy : nullptr;
}

// What a session ticket is bound to: the server name it was issued under and the
// settings of the route that name led to.
std::string ticket_identity(SSL* ssl, std::string const& name)
{
    auto const* policy = policy_of(ssl);
    return policy ? name + '\0' + policy->ticket_tag() : name;
}

// What the ClientHello offered, read in the client-hello callback (before any session
// is resumed): the normalised server name and, `with_alpn` (only routes match on it:
// without them, no copy), the ALPN protocols in the client's order.
void remember_offered(tls_hello_notes& notes, SSL* ssl, bool with_alpn)
{
    unsigned char const* ext = nullptr;
    std::size_t len = 0;
    notes.name.clear();
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len) == 1)
        notes.name = hello_server_name(std::span(ext, len));
    notes.alpn.clear();
    if (with_alpn && SSL_client_hello_get0_ext(
                         ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext, &len) == 1)
        notes.alpn = hello_alpn_protocols(std::span(ext, len));
}

std::string const& offered_name(SSL* ssl)
{
    static std::string const none;
    auto const* notes = notes_of(ssl);
    return notes ? notes->name : none;
}

} // namespace

void attach_hello_notes(SSL* ssl, tls_hello_notes* notes)
{
    if (auto* stream = tls_stream::of(ssl))
        stream->hello_notes = notes;
    else
        SSL_set_ex_data(ssl, notes_index(), notes);
}

std::string server_name_of(SSL* ssl)
{
    char const* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    return name ? sni::normalise(name) : std::string();
}

tls_context_registry::tls_context_registry(tls_config const& settings, route_table const& routes)
    : settings_(settings)
    , routes_(routes)
{}

std::unique_ptr<tls_context_registry>
tls_context_registry::build(config const& cfg, route_table const& routes, std::string& error)
{
    std::unique_ptr<tls_context_registry> reg(new tls_context_registry(cfg.tls, routes));
    for (auto const& r : cfg.routes) {
        reg->has_passthrough_ |= r.tls.mode == route_tls_mode::passthrough;
        reg->has_alpn_routes_ |= !r.alpn.empty();
        auto& policy = reg->policies_.emplace_back();
        if (r.tls.mode != route_tls_mode::terminate || !r.tls.overrides())
            continue;
        policy = route_tls_policy::build(r, cfg.tls, error);
        if (!policy)
            return nullptr;
        reg->has_policies_ = true;
    }
    auto const* def = cfg.default_certificate();
    auto const& certs = cfg.certificates;
    std::vector<std::size_t> context_of(certs.size()); // certificates[i] -> contexts_ index
    for (std::size_t i = 0; i < certs.size(); ++i) {
        // The second of a dual pair (same names, other key type: the loader checked)
        // joins the first one's context; OpenSSL keeps one certificate per key type.
        std::size_t j = 0;
        while (j < i && (certs[i].names.empty() || certs[j].names != certs[i].names))
            ++j;
        bool const pair = j < i;
        context_of[i] = pair ? context_of[j] : reg->contexts_.size();
        if (&certs[i] == def)
            reg->default_index_ = context_of[i];
        bool ok =
            pair ? load_key_pair(reg->contexts_[context_of[i]]->native_handle(), certs[i], error)
                 : reg->add_certificate(certs[i], error);
        if (!ok)
            return nullptr;
    }
    if (reg->contexts_.empty()) {
        // No TLS listener needs one; keep a context so streams can still be built.
        reg->contexts_.push_back(std::make_unique<ssl::context>(ssl::context::tls_server));
        reg->default_index_ = 0;
    }
    return reg;
}

// The chain and its key into `native`'s slot for the key's type (a second call with
// another key type adds a certificate: dual ECDSA and RSA).
bool tls_context_registry::load_key_pair(SSL_CTX* native, certificate_config const& cert,
                                         std::string& error)
{
    if (SSL_CTX_use_certificate_chain_file(native, cert.cert_file.c_str()) != 1) {
        error = cert.cert_file + ": " + openssl_error();
        return false;
    }
    if (SSL_CTX_use_PrivateKey_file(native, cert.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(native) != 1) {
        error = cert.key_file + ": " + openssl_error();
        return false;
    }
    return true;
}

bool tls_context_registry::add_certificate(certificate_config const& cert, std::string& error)
{
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    SSL_CTX* native = ctx->native_handle();

    bool tls13_only =
        settings_.min_version == tls_version::tls1_3 || settings_.profile == tls_profile::modern;
    SSL_CTX_set_min_proto_version(native, tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION);
    // The client's cipher order (Mozilla intermediate): no SSL_OP_CIPHER_SERVER_PREFERENCE.
    SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_clear_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE);
    // NO_AUTO_CHAIN: the chain is what the certificate file holds. Without it OpenSSL
    // builds the chain again on every full handshake (X509_verify_cert against the
    // context's empty store), only to send the same certificates; nginx sets it too.
    SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
    // Read ahead: one recv takes whatever the socket holds (the client's Finished and
    // its request together, say) instead of a recv for each record's header and
    // another for its body. The buffer is still released when it empties.
    SSL_CTX_set_read_ahead(native, 1);
    std::string ciphers = settings_.ciphers.empty() ? tls12_ciphers : settings_.ciphers;
    if (SSL_CTX_set_cipher_list(native, ciphers.c_str()) != 1) {
        error = "tls.ciphers: " + openssl_error();
        return false;
    }
    if (SSL_CTX_set1_groups_list(native, settings_.groups.c_str()) != 1) {
        error = "tls.groups: " + openssl_error();
        return false;
    }
    SSL_CTX_set_max_early_data(native, 0); // no 0-RTT: replayable requests
    // Resumption by tickets only (stateless, keys shared across snapshots and, with
    // tls.ticket_keys, across replicas), one ticket per handshake; on_ticket refuses a
    // session offered under another server name.
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(native, 1);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(native, &ticket_keyring::callback);
    SSL_CTX_set_session_ticket_cb(native, &tls_context_registry::on_new_ticket,
                                  &tls_context_registry::on_ticket, this);
    static unsigned char const sid_ctx[] = "got-router";
    SSL_CTX_set_session_id_context(native, sid_ctx, sizeof sid_ctx - 1);

    if (!load_key_pair(native, cert, error))
        return false;

    SSL_CTX_set_tlsext_servername_callback(native, &tls_context_registry::on_servername);
    SSL_CTX_set_tlsext_servername_arg(native, this);
    SSL_CTX_set_alpn_select_cb(native, &tls_context_registry::on_alpn, this);
    SSL_CTX_set_client_hello_cb(native, &tls_context_registry::on_client_hello, this);

    for (auto const& name : cert.names)
        (sni::is_wildcard(name) ? wildcard_ : exact_).emplace(name, native);
    contexts_.push_back(std::move(ctx));
    return true;
}

SSL_CTX* tls_context_registry::select(std::string_view server_name) const
{
    if (!server_name.empty()) {
        std::string key(server_name);
        if (auto it = exact_.find(key); it != exact_.end())
            return it->second;
        if (auto w = sni::wildcard_for(server_name)) {
            if (auto it = wildcard_.find(*w); it != wildcard_.end())
                return it->second;
        }
    }
    return contexts_[default_index_]->native_handle();
}

bool tls_context_registry::passes_through(tls_hello_notes const& notes) const
{
    auto route = routes_.match(
        {notes.name, notes.default_route ? *notes.default_route : std::string_view(), notes.alpn});
    return route && route->config.tls.mode == route_tls_mode::passthrough;
}

void tls_context_registry::apply_route_settings(tls_hello_notes& notes, SSL* ssl) const
{
    auto route = routes_.match(
        {notes.name, notes.default_route ? *notes.default_route : std::string_view(), notes.alpn});
    notes.policy =
        route && route->index < policies_.size() ? policies_[route->index].get() : nullptr;
    if (notes.policy)
        notes.policy->apply(ssl);
}

bool tls_context_registry::known_name(std::string_view server_name) const
{
    if (exact_.count(std::string(server_name)))
        return true;
    if (auto w = sni::wildcard_for(server_name); w && wildcard_.count(*w))
        return true;
    return routes_.has_name(server_name);
}

int tls_context_registry::on_servername(SSL* ssl, int* alert, void* arg)
{
    auto const* self = static_cast<tls_context_registry const*>(arg);
    std::string name = server_name_of(ssl);
    if (self->settings_.unknown_sni == unknown_sni_policy::reject && !name.empty() &&
        !self->known_name(name)) {
        set_refusal(ssl, refusal::unknown_name);
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    SSL_CTX* chosen = self->select(name);
    if (chosen != SSL_get_SSL_CTX(ssl)) {
        SSL_set_SSL_CTX(ssl, chosen);
        // The swap replaced the verify store with the new context's (none).
        if (auto const* policy = policy_of(ssl))
            policy->apply_verify_store(ssl);
    }
    return SSL_TLSEXT_ERR_OK;
}

namespace {

// `name` in the client's wire-format list `in` (length-prefixed names), pointing into it.
bool find_in_wire(std::string_view name, unsigned char const* in, unsigned int inlen,
                  unsigned char const** out, unsigned char* outlen)
{
    for (unsigned int i = 0; i < inlen;) {
        unsigned int len = in[i];
        if (i + 1 + len > inlen)
            break;
        if (std::string_view(reinterpret_cast<char const*>(in + i + 1), len) == name) {
            *out = in + i + 1;
            *outlen = static_cast<unsigned char>(len);
            return true;
        }
        i += 1 + len;
    }
    return false;
}

} // namespace

int tls_context_registry::on_alpn(SSL* ssl, unsigned char const** out, unsigned char* outlen,
                                  unsigned char const* in, unsigned int inlen, void* arg)
{
    auto const* self = static_cast<tls_context_registry const*>(arg);
    // A route that names protocols selects the one that chose it (the session's match
    // after the handshake sees the same name and list, so it picks the same route).
    auto* notes = notes_of(ssl);
    if (self->has_alpn_routes_ && notes) {
        auto route = self->routes_.match({notes->name, {}, notes->alpn});
        if (route && !route->alpn.empty() && find_in_wire(route->alpn, in, inlen, out, outlen))
            return SSL_TLSEXT_ERR_OK;
    }
    // Otherwise our preference order (tls.alpn).
    for (auto const& ours : self->settings_.alpn)
        if (find_in_wire(ours, in, inlen, out, outlen))
            return SSL_TLSEXT_ERR_OK;
    // A listener with GoH also speaks HTTP/1.1 (after tls.alpn: a client offering both
    // gets Gopher).
    if (notes && notes->goh && find_in_wire(goh_alpn, in, inlen, out, outlen))
        return SSL_TLSEXT_ERR_OK;
    // Offered ALPN without ours: refuse with the no_application_protocol alert
    // (a defence against cross-protocol attacks).
    set_refusal(ssl, refusal::alpn);
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

int tls_context_registry::on_new_ticket(SSL* ssl, void*)
{
    // The ticket carries the server name it was issued under (and its route's settings).
    std::string identity = ticket_identity(ssl, offered_name(ssl));
    SSL_SESSION* session = SSL_get0_session(ssl);
    return session ? SSL_SESSION_set1_ticket_appdata(session, identity.data(), identity.size()) : 1;
}

SSL_TICKET_RETURN tls_context_registry::on_ticket(SSL* ssl, SSL_SESSION* session,
                                                  unsigned char const*, std::size_t,
                                                  SSL_TICKET_STATUS status, void*)
{
    if (status != SSL_TICKET_SUCCESS && status != SSL_TICKET_SUCCESS_RENEW)
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    // RFC 6066: no resumption under another server name. A session from host A
    // offered with SNI B gets a full handshake (and so B's certificate and route).
    // The name comes from the ClientHello itself: for TLS 1.2 this runs before
    // OpenSSL has parsed the server_name extension.
    void* data = nullptr;
    std::size_t len = 0;
    if (SSL_SESSION_get0_ticket_appdata(session, &data, &len) != 1)
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    std::string_view issued_for(static_cast<char const*>(data), data ? len : 0);
    if (issued_for != ticket_identity(ssl, offered_name(ssl)))
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_USE_RENEW;
}

int tls_context_registry::on_client_hello(SSL* ssl, int* alert, void* arg)
{
    auto const* self = static_cast<tls_context_registry const*>(arg);
    tls_stream::client_hello_read(ssl); // the whole ClientHello is in: its cap is done
    auto* notes = notes_of(ssl);
    if (notes) {
        remember_offered(*notes, ssl, self->has_alpn_routes_ || self->has_passthrough_);
        if (self->has_passthrough_ && self->passes_through(*notes))
            return SSL_CLIENT_HELLO_RETRY; // stops the handshake: the session passes it on
        if (self->has_policies_)
            self->apply_route_settings(*notes, ssl);
    }
    if (!self->settings_.require_alpn)
        return SSL_CLIENT_HELLO_SUCCESS;
    unsigned char const* ext = nullptr;
    std::size_t len = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext,
                                  &len) == 1)
        return SSL_CLIENT_HELLO_SUCCESS;
    set_refusal(ssl, refusal::alpn);
    *alert = SSL_AD_NO_APPLICATION_PROTOCOL;
    return SSL_CLIENT_HELLO_ERROR;
}

} // namespace got
