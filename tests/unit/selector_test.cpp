// Selectors: the selector of a request line, prefix matching, prefix checks and the
// `;vhost` suffix (common/selector.hpp).
#include "common/selector.hpp"

#include <gtest/gtest.h>
#include <string>

namespace got::selector {
namespace {

TEST(Selector, OfRequest)
{
    EXPECT_EQ(of_request("/phorum/x\r\n"), "/phorum/x");
    EXPECT_EQ(of_request("/search\twords\r\n"), "/search");
    EXPECT_EQ(of_request("/a\n"), "/a");
    EXPECT_EQ(of_request("\r\n"), "");
    EXPECT_EQ(of_request("/no-end"), "/no-end");
}

TEST(Selector, HasPrefix)
{
    struct row
    {
        std::string selector;
        std::string prefix;
        bool match;
    };
    row const rows[] = {
        {"/phorum", "/phorum", true},
        {"/phorum/", "/phorum", true},
        {"/phorum/x/y", "/phorum", true},
        {"/phorum?q=1", "/phorum", true},
        {"/phorumx", "/phorum", false},
        {"/phor", "/phorum", false},
        {"", "/phorum", false},
        {"/x", "", false},
        {"/~alice/%C3%A9t%C3%A9", "/~alice", true},
        {"/caf\xc3\xa9/menu", "/caf\xc3\xa9", true},
    };
    for (auto const& r : rows)
        EXPECT_EQ(has_prefix(r.selector, r.prefix), r.match) << r.selector << " " << r.prefix;
}

TEST(Selector, PrefixProblems)
{
    EXPECT_EQ(prefix_problem("/phorum"), "");
    EXPECT_EQ(prefix_problem("~alice"), "");
    EXPECT_NE(prefix_problem(""), "");
    EXPECT_NE(prefix_problem("/"), "");
    EXPECT_NE(prefix_problem("/phorum/"), "");
    EXPECT_NE(prefix_problem("/a\tb"), "");
    EXPECT_NE(prefix_problem(std::string("/a\0b", 4)), "");
    EXPECT_NE(prefix_problem("/a?b"), "");
    EXPECT_NE(prefix_problem("/a;b"), "");
    EXPECT_NE(prefix_problem(std::string(256, 'a')), "");
    EXPECT_EQ(prefix_problem(std::string(255, 'a')), "");
}

TEST(Selector, SplitVhost)
{
    auto v = split_vhost("/docs;Example.ORG");
    ASSERT_TRUE(v);
    EXPECT_EQ(v->selector, "/docs");
    EXPECT_EQ(v->name, "example.org");
    auto root = split_vhost(";example.org");
    ASSERT_TRUE(root);
    EXPECT_EQ(root->selector, "");
    EXPECT_FALSE(split_vhost("/docs"));
    EXPECT_FALSE(split_vhost("/docs;"));
    EXPECT_FALSE(split_vhost("/docs;not a name"));
    EXPECT_FALSE(split_vhost("/docs;127.0.0.1"));
    EXPECT_FALSE(split_vhost("/docs;*.example.org"));
}

} // namespace
} // namespace got::selector
