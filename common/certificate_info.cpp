#include "certificate_info.hpp"

#include "small_file.hpp"

#include <ctime>
#include <memory>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace got {

namespace {

constexpr std::size_t max_pem_size = std::size_t{1} << 20;

struct openssl_free
{
    void operator()(BIO* p) const { BIO_free(p); }
    void operator()(X509* p) const { X509_free(p); }
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
    void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};

using bio_ptr = std::unique_ptr<BIO, openssl_free>;
using x509_ptr = std::unique_ptr<X509, openssl_free>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_free>;
using general_names_ptr = std::unique_ptr<GENERAL_NAMES, openssl_free>;

std::string in_quotes(std::string const& s)
{
    return "\"" + s + "\"";
}

// The whole file, or an empty optional and `error` saying why not.
std::optional<std::string> read_file(std::string const& path, std::string& error)
{
    auto text = read_small_file(path, max_pem_size);
    if (!text) {
        error = text.error();
        return std::nullopt;
    }
    return text.value();
}

bio_ptr memory_bio(std::string const& text)
{
    return bio_ptr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Whether the rest of the BIO holds only well-formed certificates (the chain after the leaf).
bool rest_of_chain_parses(BIO* bio)
{
    ERR_clear_error();
    for (;;) {
        x509_ptr next(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
        if (!next)
            break;
    }
    auto err = ERR_peek_last_error();
    return ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
}

x509_ptr read_leaf(std::string const& path, std::string& error)
{
    auto text = read_file(path, error);
    if (!text)
        return nullptr;
    auto bio = memory_bio(*text);
    x509_ptr leaf(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!leaf) {
        error = "no PEM certificate in " + in_quotes(path);
        return nullptr;
    }
    if (!rest_of_chain_parses(bio.get())) {
        error = "a certificate after the first one in " + in_quotes(path) + " cannot be parsed";
        return nullptr;
    }
    return leaf;
}

// The default password callback would prompt on the terminal; refuse instead.
int refuse_passphrase(char*, int, int, void* asked)
{
    *static_cast<bool*>(asked) = true;
    return -1;
}

pkey_ptr read_key(std::string const& path, std::string& error)
{
    auto text = read_file(path, error);
    if (!text)
        return nullptr;
    auto bio = memory_bio(*text);
    bool asked = false;
    pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, &refuse_passphrase, &asked));
    if (!key) {
        error = asked ? "the private key in " + in_quotes(path) +
                            " is encrypted; got-router needs an unencrypted key"
                      : "no PEM private key in " + in_quotes(path);
    }
    return key;
}

std::string lower(std::string s)
{
    for (auto& c : s)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return s;
}

// The text of an IA5/UTF8 string, or empty when it holds a NUL (a forged-name trick).
std::string name_text(ASN1_STRING const* s)
{
    std::string text(reinterpret_cast<char const*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
    if (text.find('\0') != std::string::npos)
        return {};
    return lower(std::move(text));
}

void add_name(std::vector<std::string>& names, std::string name)
{
    if (name.empty())
        return;
    for (auto const& n : names)
        if (n == name)
            return;
    names.push_back(std::move(name));
}

std::vector<std::string> san_dns_names(X509* leaf)
{
    std::vector<std::string> names;
    general_names_ptr sans(static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr)));
    if (!sans)
        return names;
    for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
        auto const* name = sk_GENERAL_NAME_value(sans.get(), i);
        if (name->type == GEN_DNS)
            add_name(names, name_text(name->d.dNSName));
    }
    return names;
}

std::vector<std::string> common_names(X509* leaf)
{
    std::vector<std::string> names;
    auto const* subject = X509_get_subject_name(leaf);
    for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
         i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
        auto const* entry = X509_NAME_get_entry(subject, i);
        add_name(names, name_text(X509_NAME_ENTRY_get_data(entry)));
    }
    return names;
}

std::int64_t not_after(X509* leaf)
{
    std::tm tm{};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) != 1)
        return 0;
    return static_cast<std::int64_t>(timegm(&tm));
}

std::string key_type(EVP_PKEY const* key)
{
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC:
        return "ecdsa";
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
        return "rsa";
    case EVP_PKEY_ED25519:
        return "ed25519";
    case EVP_PKEY_ED448:
        return "ed448";
    default:
        return "other";
    }
}

certificate_info describe(X509* leaf, EVP_PKEY const* key)
{
    certificate_info info;
    info.key_type = key_type(key);
    info.names = san_dns_names(leaf);
    if (info.names.empty())
        info.names = common_names(leaf);
    info.not_after = not_after(leaf);
    return info;
}

} // namespace

certificate_check check_certificate(std::string const& cert_file, std::string const& key_file)
{
    certificate_check check;
    auto leaf = read_leaf(cert_file, check.cert_error);
    auto key = read_key(key_file, check.key_error);
    if (leaf && key) {
        if (X509_check_private_key(leaf.get(), key.get()) == 1)
            check.info = describe(leaf.get(), key.get());
        else
            check.key_error = "the private key in " + in_quotes(key_file) +
                              " does not match the certificate in " + in_quotes(cert_file);
    }
    ERR_clear_error();
    return check;
}

std::string ca_file_problem(std::string const& file)
{
    std::string error;
    auto text = read_file(file, error);
    if (!text)
        return error;
    auto bio = memory_bio(*text);
    int count = 0;
    for (;; ++count) {
        x509_ptr ca(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        if (!ca)
            break;
        if (X509_check_ca(ca.get()) == 0) {
            ERR_clear_error();
            return "certificate " + std::to_string(count + 1) + " in " + in_quotes(file) +
                   " is not a CA certificate (no CA basic constraint)";
        }
    }
    auto err = ERR_peek_last_error();
    bool clean_end = ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
    ERR_clear_error();
    if (count == 0)
        return "no PEM certificate in " + in_quotes(file);
    if (!clean_end)
        return "certificate " + std::to_string(count + 1) + " in " + in_quotes(file) +
               " cannot be parsed";
    return {};
}

std::string certificate_subject(X509* cert)
{
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio ||
        X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
        ERR_clear_error();
        return {};
    }
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, len > 0 ? static_cast<std::size_t>(len) : 0);
}

std::string certificate_common_name(X509* cert)
{
    auto const* subject = X509_get_subject_name(cert);
    int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (i < 0)
        return {};
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
    if (len < 0) {
        ERR_clear_error();
        return {};
    }
    std::string cn(reinterpret_cast<char const*>(utf8), static_cast<std::size_t>(len));
    OPENSSL_free(utf8);
    return cn;
}

} // namespace got
