// toml_input.h: the one way attnscope parses a TOML file it was given (sweep specs, tolerance
// files): size-bounded, a named error with line and column for invalid TOML, and a guard for a
// toml++ defect. Debian's toml++ 3 reaches __builtin_unreachable (undefined behaviour, found by
// fuzz/fuzz_sweep_spec) when a non-ASCII character appears outside a string or a comment, where
// TOML allows none anyway; such a character is refused here, naming its line and column,
// before toml++ sees the text. Not a TOML parser.
#pragma once

#include <string>

#include <toml++/toml.h>

namespace attn {

/// Parses `text` (from `origin`, named in errors as "<what> '<origin>'"). Throws attn::Error.
toml::table parse_toml_input(const std::string& text, const std::string& origin, const std::string& what);

/// Throws attn::Error naming the line and column of the first byte >= 0x80 outside a string or a
/// comment (TOML's strings and comments may hold any UTF-8; keys, values and whitespace may not).
void require_ascii_outside_strings(const std::string& text, const std::string& origin, const std::string& what);

}  // namespace attn
