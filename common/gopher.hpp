// Gopher replies the router writes itself.
#pragma once

#include <string>
#include <string_view>

namespace got::gopher {

// One error item and the terminator: `3<message>\t\terror.host\t1\r\n.\r\n`.
// Tabs, CR and LF in the message become spaces so the item stays one line.
std::string error_item(std::string_view message);

} // namespace got::gopher
