// GoT towards a backend (`backends[].tls`): one client SSL_CTX per backend entry with
// `tls`, built with the snapshot (at load and on every reload, so a rotated CA file
// takes effect for new connections), and a small cache of sessions to resume.
//
// Verification (verify: true, the default): the chain against `ca` (or the system
// store), and the name: the SNI sent (by default the backend's host name), or, for a
// backend written as an IP address without `sni`, that address (a certificate's IP SAN).
// ALPN offers `alpn` (default [gopher]); `cert`/`key` answer a CertificateRequest.
//
// Sessions: the last sessions of each backend address, taken from the new-session
// callback (TLS 1.3 tickets arrive after the handshake, during reads), the newest
// offered on the next connection. A TLS 1.3 session is used once (OpenSSL's client
// marks a resumed one not resumable; RFC 8446 C.4), so a server's several tickets per
// full handshake give as many resumptions; a TLS 1.2 session stays until replaced. At
// most sessions_per_address per address and max_cached_addresses addresses per
// context; the cache is shared by the event loops under a mutex (held for a lookup
// only). A reload builds new contexts with empty caches: a session verified under the
// old CA is never resumed under the new one. A connection that ends without our
// close_notify makes OpenSSL mark its session not resumable; such entries are dropped
// when met.
#pragma once

#include "common/config.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <openssl/ssl.h>
#include <string>

namespace got {

class backend_tls_context
{
public:
    static constexpr std::size_t sessions_per_address = 4;
    static constexpr std::size_t max_cached_addresses = 64;

    // The context for `cfg`, or nullptr with `error` set (unreadable CA, bad key, ...).
    static std::shared_ptr<backend_tls_context> build(backend_tls_config const& cfg,
                                                      std::string& error);
    ~backend_tls_context();
    backend_tls_context(backend_tls_context const&) = delete;
    backend_tls_context& operator=(backend_tls_context const&) = delete;

    SSL_CTX* native() const noexcept { return ctx_; }
    backend_tls_config const& config() const noexcept { return cfg_; }

    // Readies a new client SSL for `peer`: SNI, the name or address to verify, the
    // cached session of `key` (the backend address's name) to resume. False when
    // OpenSSL refused (out of memory).
    bool prepare(SSL* ssl, boost::asio::ip::address const& peer, std::string const& key) const;

    // Sessions cached now (for tests).
    std::size_t cached_sessions() const;

private:
    explicit backend_tls_context(backend_tls_config cfg);
    static int on_new_session(SSL* ssl, SSL_SESSION* session);
    void store(std::string const& key, SSL_SESSION* session) const;
    SSL_SESSION* take_session(std::string const& key) const;

    backend_tls_config cfg_;
    SSL_CTX* ctx_ = nullptr;
    mutable std::mutex mutex_;
    // Oldest first; each entry holds one reference.
    mutable std::map<std::string, std::deque<SSL_SESSION*>> sessions_;
};

// What a failed backend handshake was, for the error item, the log and the metric.
struct backend_tls_failure
{
    bool verify = false; // the certificate did not verify (name, chain, expiry)
    std::string reason;  // the verifier's or OpenSSL's words
};

// After a failed handshake on `ssl` (`verifying`: the context checks certificates): why.
backend_tls_failure describe_backend_tls_failure(SSL* ssl, boost::system::error_code const& ec,
                                                 bool verifying);

} // namespace got
