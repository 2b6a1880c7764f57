#include "test_certs.hpp"

#include <memory>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdexcept>

namespace got::test {

namespace {

struct openssl_free
{
    void operator()(BIO* p) const { BIO_free(p); }
    void operator()(BIGNUM* p) const { BN_free(p); }
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
    void operator()(X509* p) const { X509_free(p); }
    void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};

using bio_ptr = std::unique_ptr<BIO, openssl_free>;
using bn_ptr = std::unique_ptr<BIGNUM, openssl_free>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_free>;
using x509_ptr = std::unique_ptr<X509, openssl_free>;
using extension_ptr = std::unique_ptr<X509_EXTENSION, openssl_free>;

[[noreturn]] void fail(std::string const& what)
{
    char detail[256] = "";
    ERR_error_string_n(ERR_get_error(), detail, sizeof detail);
    ERR_clear_error();
    throw std::runtime_error("test certificate: " + what + ": " + detail);
}

void check(bool ok, char const* what)
{
    if (!ok)
        fail(what);
}

pkey_ptr make_key(key_kind kind)
{
    pkey_ptr key(kind == key_kind::ec_p256 ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048));
    check(key != nullptr, "key generation");
    return key;
}

void set_random_serial(X509* cert)
{
    bn_ptr serial(BN_new());
    check(serial && BN_rand(serial.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1, "serial");
    check(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) != nullptr, "serial");
}

void set_names(X509* cert, std::string const& common_name)
{
    auto* name = X509_get_subject_name(cert);
    auto const* cn = reinterpret_cast<unsigned char const*>(common_name.c_str());
    check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, cn, -1, -1, 0) == 1, "CN");
    check(X509_set_issuer_name(cert, name) == 1, "issuer");
}

void add_extension(X509* cert, int nid, std::string const& value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    extension_ptr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    check(ext && X509_add_ext(cert, ext.get(), -1) == 1, "extension");
}

std::string san_value(std::vector<std::string> const& dns_names)
{
    std::string value;
    for (auto const& name : dns_names)
        value += (value.empty() ? "DNS:" : ",DNS:") + name;
    return value;
}

x509_ptr make_certificate(EVP_PKEY* key, certificate_request const& request)
{
    x509_ptr cert(X509_new());
    check(cert != nullptr, "X509_new");
    check(X509_set_version(cert.get(), X509_VERSION_3) == 1, "version");
    set_random_serial(cert.get());
    // A minute back, so a client whose clock is slightly behind still accepts it.
    check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60) != nullptr, "notBefore");
    check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), long{request.days} * 86400) != nullptr,
          "notAfter");
    check(X509_set_pubkey(cert.get(), key) == 1, "pubkey");
    set_names(cert.get(), request.common_name);
    add_extension(cert.get(), NID_subject_key_identifier, "hash");
    add_extension(cert.get(), NID_authority_key_identifier, "keyid:always");
    add_extension(cert.get(), NID_basic_constraints, "critical,CA:TRUE");
    if (!request.dns_names.empty())
        add_extension(cert.get(), NID_subject_alt_name, san_value(request.dns_names));
    check(X509_sign(cert.get(), key, EVP_sha256()) > 0, "sign");
    return cert;
}

bio_ptr open_for_writing(std::filesystem::path const& path)
{
    bio_ptr bio(BIO_new_file(path.c_str(), "wb"));
    check(bio != nullptr, ("open " + path.string()).c_str());
    return bio;
}

void write_key(std::filesystem::path const& path, EVP_PKEY* key, EVP_CIPHER const* cipher,
               std::string const& passphrase)
{
    auto bio = open_for_writing(path);
    std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                           std::filesystem::perms::owner_write);
    check(PEM_write_bio_PKCS8PrivateKey(
              bio.get(), key, cipher, cipher ? passphrase.c_str() : nullptr,
              cipher ? static_cast<int>(passphrase.size()) : 0, nullptr, nullptr) == 1,
          "write key");
}

} // namespace

certificate_files write_self_signed(std::filesystem::path const& dir, std::string const& stem,
                                    certificate_request const& request)
{
    auto key = make_key(request.key);
    auto cert = make_certificate(key.get(), request);
    certificate_files files{dir / (stem + ".pem"), dir / (stem + ".key")};
    auto bio = open_for_writing(files.cert);
    check(PEM_write_bio_X509(bio.get(), cert.get()) == 1, "write certificate");
    write_key(files.key, key.get(), nullptr, {});
    return files;
}

std::filesystem::path write_unrelated_key(std::filesystem::path const& dir, std::string const& stem,
                                          key_kind kind)
{
    auto key = make_key(kind);
    auto path = dir / (stem + ".key");
    write_key(path, key.get(), nullptr, {});
    return path;
}

std::filesystem::path write_encrypted_key(std::filesystem::path const& dir, std::string const& stem,
                                          std::string const& passphrase)
{
    auto key = make_key(key_kind::ec_p256);
    auto path = dir / (stem + ".key");
    write_key(path, key.get(), EVP_aes_256_cbc(), passphrase);
    return path;
}

} // namespace got::test
