// external_spec_toml.h: parsing `[[external]]` tables of a sweep file (TOML, toml++). Kept out
// of external_spec.h so that only the parsers pay for including toml++.
#pragma once

#include <toml++/toml.h>

#include <string>
#include <vector>

#include "experiments/external/external_spec.h"

namespace attn {

/// Every `[[external]]` table of `root` (none: empty). Throws attn::Error naming the file, the
/// entry and the key for a missing name or command, an unknown key, a wrong type, an unknown
/// layout or dtype, a non-positive timeout, or a name given twice. `spec_dir` replaces a leading
/// "{spec_dir}" in command elements (empty: left as written).
std::vector<ExternalKernelSpec> parse_external_kernels(const toml::table& root, const std::string& origin,
                                                       const std::string& spec_dir);

}  // namespace attn
