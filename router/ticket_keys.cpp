#include "ticket_keys.hpp"

#include <cstring>
#include <fstream>
#include <iterator>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace got {

namespace {

ticket_key random_key()
{
    ticket_key k{};
    RAND_bytes(k.name.data(), static_cast<int>(k.name.size()));
    RAND_bytes(k.hmac.data(), static_cast<int>(k.hmac.size()));
    RAND_bytes(k.aes.data(), static_cast<int>(k.aes.size()));
    return k;
}

// Fetched once. With EVP_aes_256_cbc(), OpenSSL 3 looks the implementation up in the
// provider store (a read lock and name compares) on every ticket sealed or opened.
// The HMAC digest is named in set_mac_key: the MAC context is libssl's, per ticket.
EVP_CIPHER const* ticket_cipher()
{
    static EVP_CIPHER const* const fetched = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
    return fetched ? fetched : EVP_aes_256_cbc();
}

int set_mac_key(EVP_MAC_CTX* mac, ticket_key const& k)
{
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                                          const_cast<unsigned char*>(k.hmac.data()), k.hmac.size()),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(mac, params);
}

} // namespace

ticket_keyring& ticket_keyring::get()
{
    static ticket_keyring instance;
    return instance;
}

ticket_keyring::ticket_keyring()
{
    keys_.store(std::make_shared<std::vector<ticket_key> const>(1, random_key()));
}

void ticket_keyring::rotate()
{
    auto old = keys_.load();
    std::vector<ticket_key> next{random_key()};
    if (!from_file_.load() && !old->empty())
        next.push_back(old->front()); // decrypt-only from now on
    keys_.store(std::make_shared<std::vector<ticket_key> const>(std::move(next)));
    from_file_.store(false);
}

ticket_keyring::key_list ticket_keyring::read_file(std::string const& path, std::string& error)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "tls.ticket_keys: cannot read " + path;
        return nullptr;
    }
    std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), {});
    if (bytes.empty() || bytes.size() % 80 != 0 || bytes.size() > 80 * 16) {
        error = "tls.ticket_keys: " + path +
                " must hold 1 to 16 keys of 80 bytes each (openssl rand 80), has " +
                std::to_string(bytes.size()) + " bytes";
        return nullptr;
    }
    std::vector<ticket_key> keys(bytes.size() / 80);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        auto const* p = bytes.data() + i * 80;
        std::memcpy(keys[i].name.data(), p, 16);
        std::memcpy(keys[i].hmac.data(), p + 16, 32);
        std::memcpy(keys[i].aes.data(), p + 48, 32);
    }
    return std::make_shared<std::vector<ticket_key> const>(std::move(keys));
}

void ticket_keyring::use_file_keys(key_list keys)
{
    keys_.store(std::move(keys));
    from_file_.store(true);
}

int ticket_keyring::callback(SSL*, unsigned char* key_name, unsigned char* iv,
                             EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt)
{
    auto keys = get().keys_.load();
    if (keys->empty())
        return 0;
    if (encrypt) {
        auto const& k = keys->front();
        std::memcpy(key_name, k.name.data(), k.name.size());
        if (RAND_bytes(iv, 16) != 1)
            return -1;
        if (EVP_EncryptInit_ex(cipher, ticket_cipher(), nullptr, k.aes.data(), iv) != 1 ||
            set_mac_key(mac, k) != 1)
            return -1;
        return 1;
    }
    for (std::size_t i = 0; i < keys->size(); ++i) {
        auto const& k = (*keys)[i];
        if (std::memcmp(key_name, k.name.data(), k.name.size()) != 0)
            continue;
        if (set_mac_key(mac, k) != 1 ||
            EVP_DecryptInit_ex(cipher, ticket_cipher(), nullptr, k.aes.data(), iv) != 1)
            return -1;
        return i == 0 ? 1 : 2; // 2: decrypted with an old key, issue a fresh ticket
    }
    return 0; // unknown key: full handshake
}

} // namespace got
