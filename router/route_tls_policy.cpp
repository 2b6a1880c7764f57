#include "route_tls_policy.hpp"

#include "common/small_file.hpp"
#include "openssl_text.hpp"

#include <openssl/evp.h>
#include <openssl/x509.h>

namespace got {

namespace {

// Hex SHA-256 of `text`: the CA file's content goes into the ticket tag.
std::string sha256_hex(std::string const& text)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr) != 1)
        return {};
    static char const digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
        out += digits[md[i] >> 4];
        out += digits[md[i] & 15];
    }
    return out;
}

} // namespace

route_tls_policy::~route_tls_policy()
{
    X509_STORE_free(store_);
    sk_X509_NAME_pop_free(ca_names_, X509_NAME_free);
}

std::unique_ptr<route_tls_policy>
route_tls_policy::build(route_config const& route, tls_config const& global, std::string& error)
{
    auto const& tls = route.tls;
    std::unique_ptr<route_tls_policy> p(new route_tls_policy);
    auto profile = tls.profile.value_or(global.profile);
    auto min = tls.min_version.value_or(global.min_version);
    p->min_version_ = (profile == tls_profile::modern || min == tls_version::tls1_3)
                          ? TLS1_3_VERSION
                          : TLS1_2_VERSION;
    p->ciphers_ = !tls.ciphers.empty()      ? tls.ciphers
                  : !global.ciphers.empty() ? global.ciphers
                                            : tls12_ciphers;
    p->groups_ = !tls.groups.empty() ? tls.groups : global.groups;
    p->tag_ = route.name + '\n' + std::to_string(p->min_version_) + '\n' + p->ciphers_ + '\n' +
              p->groups_;
    if (!tls.client_ca.empty()) {
        if (!p->load_client_ca(tls.client_ca, error)) {
            error = "route " + route.name + ": client_ca " + error;
            return nullptr;
        }
        p->verify_mode_ = SSL_VERIFY_PEER;
        if (tls.client_auth == client_auth_mode::required)
            p->verify_mode_ |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        p->tag_ += '\n' + std::to_string(p->verify_mode_);
    }
    return p;
}

bool route_tls_policy::load_client_ca(std::string const& file, std::string& error)
{
    auto text = read_small_file(file, std::size_t{1} << 20);
    if (!text) {
        error = text.error();
        return false;
    }
    store_ = X509_STORE_new();
    ca_names_ = SSL_load_client_CA_file(file.c_str());
    if (!store_ || !ca_names_ || X509_STORE_load_file(store_, file.c_str()) != 1) {
        error = file + ": " + openssl_error();
        return false;
    }
    tag_ += '\n' + sha256_hex(text.value());
    return true;
}

void route_tls_policy::apply(SSL* ssl) const
{
    SSL_set_min_proto_version(ssl, min_version_);
    // Checked at load: these lists are known good, so a failure leaves the context's.
    SSL_set_cipher_list(ssl, ciphers_.c_str());
    SSL_set1_groups_list(ssl, groups_.c_str());
    ERR_clear_error();
    if (!store_)
        return;
    SSL_set_verify(ssl, verify_mode_, nullptr);
    SSL_set_client_CA_list(ssl, SSL_dup_CA_list(ca_names_));
    apply_verify_store(ssl);
}

void route_tls_policy::apply_verify_store(SSL* ssl) const
{
    if (store_)
        SSL_set1_verify_cert_store(ssl, store_);
}

} // namespace got
