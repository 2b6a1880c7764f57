// The handshake settings of a route with a `tls:` map (route_tls_config), ready to apply
// to one client's SSL.
//
// Contexts are per certificate and the SNI callback swaps them with SSL_set_SSL_CTX, which
// replaces the SSL's CERT (certificate, key and the verify store) but keeps what lives on
// the SSL itself: protocol versions, cipher list, groups, verify mode and the CA names
// sent in a CertificateRequest. So a route's settings are applied per SSL: all but the
// verify store in the ClientHello callback (before the version, the key share and the
// cipher are chosen), and the verify store again after any SSL_set_SSL_CTX. A client
// whose ClientHello matches another route never gets a CertificateRequest.
//
// Built with the snapshot (load and reload); read-only afterwards, shared by handshakes
// on every event loop.
#pragma once

#include "common/config.hpp"

#include <memory>
#include <openssl/ssl.h>
#include <string>

namespace got {

class route_tls_policy
{
public:
    // The settings of `route` over the top-level `tls`; nullptr and `error` set when a
    // file or list is refused (the loader has checked them, so only a file changed since).
    static std::unique_ptr<route_tls_policy> build(route_config const& route,
                                                   tls_config const& global, std::string& error);

    ~route_tls_policy();
    route_tls_policy(route_tls_policy const&) = delete;
    route_tls_policy& operator=(route_tls_policy const&) = delete;

    // Versions, ciphers, groups, verify mode, CA names and the verify store on `ssl`.
    void apply(SSL* ssl) const;
    // The verify store again, after SSL_set_SSL_CTX replaced it.
    void apply_verify_store(SSL* ssl) const;
    bool asks_client_certificate() const noexcept { return store_ != nullptr; }
    // Sets a session ticket apart: a ticket issued under other settings (another route, a
    // reload that added client_ca or rotated its CA file) is not resumed, so a session
    // never skips a certificate check its route now asks for.
    std::string const& ticket_tag() const noexcept { return tag_; }

private:
    route_tls_policy() = default;
    bool load_client_ca(std::string const& file, std::string& error);

    int min_version_ = TLS1_2_VERSION;
    std::string ciphers_;
    std::string groups_;
    int verify_mode_ = SSL_VERIFY_NONE;
    X509_STORE* store_ = nullptr;
    STACK_OF(X509_NAME) * ca_names_ = nullptr;
    std::string tag_;
};

} // namespace got
