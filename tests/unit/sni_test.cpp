// Server names: normalising what a client sends, wildcard patterns, matching.
#include "common/sni.hpp"
#include "sni_match.hpp"

#include <gtest/gtest.h>
#include <optional>
#include <string>

namespace got::sni {
namespace {

TEST(SniNormalise, Table)
{
    struct row
    {
        std::string input;
        std::string expected;
    };
    row const rows[] = {
        {"example.org", "example.org"},
        {"Example.ORG", "example.org"},
        {"example.org.", "example.org"},
        {"WWW.Example.Org.", "www.example.org"},
        {"a-b.c_d.test", "a-b.c_d.test"},
        {"localhost", "localhost"},
        {"", ""},
        {".", ""},
        {"127.0.0.1", ""},
        {"::1", ""},
        {"[::1]", ""},
        {"a..b", ""},
        {".example.org", ""},
        {"exa mple.org", ""},
        {"example.org/x", ""},
        {std::string(64, 'a') + ".test", ""},
        {std::string(63, 'a') + ".test", std::string(63, 'a') + ".test"},
        {std::string(254, 'a'), ""},
    };
    for (auto const& r : rows)
        EXPECT_EQ(normalise(r.input), r.expected) << "input: \"" << r.input << "\"";
}

TEST(SniIsWildcard, Table)
{
    EXPECT_TRUE(is_wildcard("*.example.net"));
    EXPECT_FALSE(is_wildcard("example.net"));
    EXPECT_FALSE(is_wildcard("*example.net"));
    EXPECT_FALSE(is_wildcard("a.*.example.net"));
}

TEST(SniWildcardFor, Table)
{
    struct row
    {
        std::string name;
        std::optional<std::string> expected;
    };
    row const rows[] = {
        {"a.example.net", "*.example.net"},
        {"a.b.example.net", "*.b.example.net"},
        {"example.org", "*.org"},
        {"localhost", std::nullopt},
        {".org", std::nullopt},
        {"a.", std::nullopt},
        {"", std::nullopt},
    };
    for (auto const& r : rows)
        EXPECT_EQ(wildcard_for(r.name), r.expected) << "name: \"" << r.name << "\"";
}

TEST(SniMatches, Table)
{
    struct row
    {
        std::string pattern;
        std::string name;
        bool expected;
    };
    row const rows[] = {
        {"example.org", "example.org", true},
        {"example.org", "www.example.org", false},
        {"www.example.org", "example.org", false},
        {"*.example.net", "a.example.net", true},
        {"*.example.net", "zz-9.example.net", true},
        {"*.example.net", "a.b.example.net", false}, // one label only
        {"*.example.net", "example.net", false},
        {"*.example.net", "a.example.org", false},
        {"*.example.net", "*.example.net", true},
    };
    for (auto const& r : rows)
        EXPECT_EQ(matches(r.pattern, r.name), r.expected)
            << "pattern: \"" << r.pattern << "\" name: \"" << r.name << "\"";
}

TEST(SniValidPattern, Table)
{
    struct row
    {
        std::string pattern;
        bool expected;
    };
    row const rows[] = {
        {"example.org", true},
        {"*.example.org", true},
        {"*.org", true},
        {"localhost", true},
        {"a-b.c_d.test", true},
        {"", false},
        {"*", false},
        {"*.", false},
        {"**.example.org", false},
        {"*example.org", false},
        {"foo.*.example.org", false},
        {"*.*.example.org", false},
        {"a..b", false},
        {"example.org.", false},
        {"exa mple.org", false},
        {"Example.org", false}, // the loader lower-cases first
        {std::string(64, 'a') + ".test", false},
    };
    for (auto const& r : rows)
        EXPECT_EQ(valid_pattern(r.pattern), r.expected) << "pattern: \"" << r.pattern << "\"";
}

} // namespace
} // namespace got::sni
