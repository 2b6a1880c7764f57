// LD_PRELOAD shim for integration tests: getaddrinfo() answers names from a file, with a
// chosen delay, so a test can make a backend host name resolve to several addresses,
// change what it resolves to between reloads, or make a lookup slow, without a DNS server.
//
// GOT_FAKE_DNS=<file>; one line per name, read at every call:
//     <name> <delay-ms> <address> [<address>...]
// A name that ends in `.fake.test` and is not in the file fails with EAI_NONAME; every
// other name goes to the real getaddrinfo.
#include <arpa/inet.h>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <netdb.h>
#include <netinet/in.h>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <vector>

namespace {

using getaddrinfo_fn = int (*)(char const*, char const*, addrinfo const*, addrinfo**);

bool iequals(std::string const& a, char const* b)
{
    if (a.size() != std::strlen(b))
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

bool ends_with_fake_domain(char const* name)
{
    std::string n(name);
    std::string const suffix = ".fake.test";
    return n.size() >= suffix.size() && iequals(n.substr(n.size() - suffix.size()), suffix.c_str());
}

// One entry, allocated the way glibc's freeaddrinfo() expects: the addrinfo and its
// address in one block, no canonical name.
addrinfo* make_entry(std::string const& text, int port, addrinfo const* hints)
{
    sockaddr_storage storage{};
    socklen_t length = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<std::uint16_t>(port));
        length = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<std::uint16_t>(port));
        length = sizeof(sockaddr_in6);
    } else {
        return nullptr;
    }
    if (hints && hints->ai_family != AF_UNSPEC && hints->ai_family != storage.ss_family)
        return nullptr;
    auto* block = static_cast<char*>(std::calloc(1, sizeof(addrinfo) + sizeof(sockaddr_storage)));
    auto* ai = reinterpret_cast<addrinfo*>(block);
    ai->ai_family = storage.ss_family;
    ai->ai_socktype = hints && hints->ai_socktype ? hints->ai_socktype : SOCK_STREAM;
    ai->ai_protocol = hints && hints->ai_protocol ? hints->ai_protocol : IPPROTO_TCP;
    ai->ai_addrlen = length;
    ai->ai_addr = reinterpret_cast<sockaddr*>(block + sizeof(addrinfo));
    std::memcpy(ai->ai_addr, &storage, length);
    return ai;
}

} // namespace

extern "C" int getaddrinfo(char const* node, char const* service, addrinfo const* hints,
                           addrinfo** result)
{
    static auto real = reinterpret_cast<getaddrinfo_fn>(dlsym(RTLD_NEXT, "getaddrinfo"));
    char const* file = std::getenv("GOT_FAKE_DNS");
    if (!node || !file)
        return real(node, service, hints, result);

    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string name;
        long delay_ms = 0;
        if (!(fields >> name >> delay_ms) || !iequals(name, node))
            continue;
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        int port = service ? std::atoi(service) : 0;
        addrinfo* head = nullptr;
        addrinfo** tail = &head;
        std::string address;
        while (fields >> address) {
            if (auto* ai = make_entry(address, port, hints)) {
                *tail = ai;
                tail = &ai->ai_next;
            }
        }
        if (!head)
            return EAI_NONAME;
        *result = head;
        return 0;
    }
    if (ends_with_fake_domain(node))
        return EAI_NONAME;
    return real(node, service, hints, result);
}
