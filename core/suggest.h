// suggest.h: "did you mean ...?" for a mistyped name (a kernel, a mutant, a key): the candidates
// nearest by edit distance. Not a fuzzy matcher for globs: it compares whole names.
#pragma once

#include <string>
#include <vector>

namespace attn {

/// Up to `count` candidates nearest to `name` by Levenshtein distance (case-insensitive), nearest
/// first, ties in the candidates' order; only those within max(3, |name| / 3) edits.
std::vector<std::string> nearest_names(const std::string& name, const std::vector<std::string>& candidates,
                                       int count = 3);
/// " (did you mean 'a', 'b'?)" or "" when nothing is near.
std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace attn
