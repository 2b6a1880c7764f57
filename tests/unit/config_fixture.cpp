#include "config_fixture.hpp"

namespace got::test {

namespace {

void replace_all(std::string& text, std::string_view from, std::string const& to)
{
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
}

} // namespace

config_fixture::config_fixture()
    : example_(write_self_signed(
          dir_.path(), "example",
          {.common_name = "example", .dns_names = {"Example.ORG", "www.example.org"}}))
    , wild_(write_self_signed(dir_.path(), "wild",
                              {.common_name = "wild", .dns_names = {"*.Example.NET"}}))
    , other_key_(write_unrelated_key(dir_.path(), "other"))
    , config_path_(dir_.path() / "got.yaml")
{}

std::string config_fixture::expand(std::string_view yaml) const
{
    std::string text(yaml);
    replace_all(text, "@dir@", dir_.path().string());
    replace_all(text, "@example_cert@", example_.cert.string());
    replace_all(text, "@example_key@", example_.key.string());
    replace_all(text, "@wild_cert@", wild_.cert.string());
    replace_all(text, "@wild_key@", wild_.key.string());
    replace_all(text, "@other_key@", other_key_.string());
    return text;
}

std::filesystem::path config_fixture::write_config(std::string_view yaml) const
{
    return dir_.write(config_path_.filename().string(), expand(yaml));
}

config_result config_fixture::load(std::string_view yaml) const
{
    return load_config(write_config(yaml).string());
}

config config_fixture::load_ok(std::string_view yaml) const
{
    auto result = load(yaml);
    if (auto* problems = std::get_if<std::vector<config_problem>>(&result)) {
        ADD_FAILURE() << "unexpected problems:\n" << to_text(*problems);
        return {};
    }
    return std::get<config>(std::move(result));
}

std::vector<config_problem> config_fixture::load_problems(std::string_view yaml) const
{
    auto result = load(yaml);
    if (auto* problems = std::get_if<std::vector<config_problem>>(&result))
        return *problems;
    ADD_FAILURE() << "the config loaded, but problems were expected";
    return {};
}

std::string to_text(std::vector<config_problem> const& problems)
{
    std::string text;
    for (auto const& p : problems)
        text += "  " + p.to_string() + "\n";
    return text;
}

::testing::AssertionResult has_problem(std::vector<config_problem> const& problems, int line,
                                       std::string_view key, std::string_view text)
{
    for (auto const& p : problems)
        if (p.line == line && p.key == key && p.message.find(text) != std::string::npos)
            return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "no problem at line " << line << " for key `" << key
                                         << "` containing `" << text << "`; the problems were:\n"
                                         << to_text(problems);
}

} // namespace got::test
