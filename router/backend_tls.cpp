#include "backend_tls.hpp"

#include <boost/asio/ssl/error.hpp>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <vector>

namespace got {

namespace {

// The SSL's ex-data slot: which context and which address a new session belongs to.
struct session_owner
{
    backend_tls_context const* context;
    std::string key;
};

int owner_index()
{
    static int const index = SSL_get_ex_new_index(
        0, nullptr, nullptr, nullptr, [](void*, void* p, CRYPTO_EX_DATA*, int, long, void*) {
            delete static_cast<session_owner*>(p);
        });
    return index;
}

std::string openssl_reason()
{
    auto code = ERR_peek_last_error();
    char text[256] = {};
    ERR_error_string_n(code, text, sizeof text);
    ERR_clear_error();
    return code ? text : "unknown error";
}

// ALPN's wire form: each name prefixed by its length.
std::string alpn_wire(std::vector<std::string> const& names)
{
    std::string out;
    for (auto const& n : names) {
        out.push_back(static_cast<char>(n.size()));
        out += n;
    }
    return out;
}

} // namespace

backend_tls_context::backend_tls_context(backend_tls_config cfg)
    : cfg_(std::move(cfg))
{}

backend_tls_context::~backend_tls_context()
{
    for (auto& [key, list] : sessions_)
        for (auto* session : list)
            SSL_SESSION_free(session);
    SSL_CTX_free(ctx_);
}

std::shared_ptr<backend_tls_context> backend_tls_context::build(backend_tls_config const& cfg,
                                                                std::string& error)
{
    std::shared_ptr<backend_tls_context> c(new backend_tls_context(cfg));
    c->ctx_ = SSL_CTX_new(TLS_client_method());
    auto fail = [&](std::string what) {
        error = std::move(what) + ": " + openssl_reason();
        return nullptr;
    };
    if (!c->ctx_)
        return fail("cannot make a TLS client context");
    SSL_CTX_set_min_proto_version(c->ctx_, TLS1_2_VERSION);
    SSL_CTX_set_mode(c->ctx_, SSL_MODE_RELEASE_BUFFERS);
    if (cfg.verify) {
        SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_PEER, nullptr);
        int ok = cfg.ca.empty() ? SSL_CTX_set_default_verify_paths(c->ctx_)
                                : SSL_CTX_load_verify_locations(c->ctx_, cfg.ca.c_str(), nullptr);
        if (ok != 1)
            return fail("cannot load the CA certificates " +
                        (cfg.ca.empty() ? std::string("of the system store") : "in " + cfg.ca));
    } else {
        SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_NONE, nullptr);
    }
    if (!cfg.cert.empty()) {
        if (SSL_CTX_use_certificate_chain_file(c->ctx_, cfg.cert.c_str()) != 1)
            return fail("cannot load the client certificate " + cfg.cert);
        if (SSL_CTX_use_PrivateKey_file(c->ctx_, cfg.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(c->ctx_) != 1)
            return fail("cannot load the client key " + cfg.key);
    }
    if (!cfg.alpn.empty()) {
        auto wire = alpn_wire(cfg.alpn);
        // (SSL_CTX_set_alpn_protos returns 0 on success.)
        if (SSL_CTX_set_alpn_protos(c->ctx_, reinterpret_cast<unsigned char const*>(wire.data()),
                                    static_cast<unsigned>(wire.size())) != 0)
            return fail("cannot set ALPN");
    }
    SSL_CTX_set_session_cache_mode(c->ctx_,
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c->ctx_, &backend_tls_context::on_new_session);
    return c;
}

bool backend_tls_context::prepare(SSL* ssl, boost::asio::ip::address const& peer,
                                  std::string const& key) const
{
    if (!cfg_.sni.empty() && SSL_set_tlsext_host_name(ssl, cfg_.sni.c_str()) != 1)
        return false;
    if (cfg_.verify) {
        if (!cfg_.sni.empty()) {
            if (SSL_set1_host(ssl, cfg_.sni.c_str()) != 1)
                return false;
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        } else {
            auto ip = peer.to_string();
            if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip.c_str()) != 1)
                return false;
        }
    }
    auto* owner = new session_owner{this, key};
    if (SSL_set_ex_data(ssl, owner_index(), owner) != 1) {
        delete owner;
        return false;
    }
    SSL_SESSION* offer = take_session(key);
    if (offer) {
        SSL_set_session(ssl, offer); // takes its own reference
        SSL_SESSION_free(offer);
    }
    return true;
}

// The newest resumable session of `key`, with a reference for the caller. TLS 1.3
// sessions leave the cache (OpenSSL's client makes them single-use: a resumed one is
// marked not resumable, RFC 8446 C.4); a TLS 1.2 session stays for the next connection.
SSL_SESSION* backend_tls_context::take_session(std::string const& key) const
{
    std::vector<SSL_SESSION*> dead;
    SSL_SESSION* found = nullptr;
    {
        std::lock_guard lock(mutex_);
        auto it = sessions_.find(key);
        if (it == sessions_.end())
            return nullptr;
        auto& list = it->second;
        while (!list.empty() && !found) {
            SSL_SESSION* newest = list.back();
            if (!SSL_SESSION_is_resumable(newest)) {
                dead.push_back(newest);
                list.pop_back();
            } else if (SSL_SESSION_get_protocol_version(newest) == TLS1_3_VERSION) {
                found = newest; // the cache's reference goes to the caller
                list.pop_back();
            } else {
                SSL_SESSION_up_ref(newest);
                found = newest;
            }
        }
        if (list.empty())
            sessions_.erase(it);
    }
    for (auto* d : dead)
        SSL_SESSION_free(d);
    return found;
}

int backend_tls_context::on_new_session(SSL* ssl, SSL_SESSION* session)
{
    auto* owner = static_cast<session_owner*>(SSL_get_ex_data(ssl, owner_index()));
    if (!owner || !SSL_SESSION_is_resumable(session))
        return 0; // not kept: OpenSSL frees it
    owner->context->store(owner->key, session);
    return 1; // ours now
}

void backend_tls_context::store(std::string const& key, SSL_SESSION* session) const
{
    SSL_SESSION* dropped = nullptr;
    {
        std::lock_guard lock(mutex_);
        auto it = sessions_.find(key);
        if (it == sessions_.end() && sessions_.size() >= max_cached_addresses) {
            dropped = session; // full: keep the ones we have
        } else {
            auto& list = sessions_[key];
            list.push_back(session);
            if (list.size() > sessions_per_address) {
                dropped = list.front(); // the oldest
                list.pop_front();
            }
        }
    }
    if (dropped)
        SSL_SESSION_free(dropped);
}

std::size_t backend_tls_context::cached_sessions() const
{
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (auto const& [key, list] : sessions_)
        n += list.size();
    return n;
}

backend_tls_failure describe_backend_tls_failure(SSL* ssl, boost::system::error_code const& ec,
                                                 bool verifying)
{
    backend_tls_failure f;
    long verify = SSL_get_verify_result(ssl);
    if (verifying && verify != X509_V_OK) {
        f.verify = true;
        f.reason = X509_verify_cert_error_string(verify);
        return f;
    }
    f.reason = ec.message();
    return f;
}

} // namespace got
