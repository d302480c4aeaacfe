// kernel_algorithm.cpp: traits -> AlgorithmConfig and attribution JSON (kernel_algorithm.h).
#include "experiments/kernel_algorithm.h"

namespace attn {

std::optional<AlgorithmConfig> algorithm_from_traits(const std::map<std::string, std::string>& t) {
  if (!t.count("block_m") || !t.count("block_n")) return std::nullopt;
  AlgorithmConfig a;
  a.tiles.block_m = std::stoi(t.at("block_m"));
  a.tiles.block_n = std::stoi(t.at("block_n"));
  if (t.count("num_splits")) a.tiles.num_splits = std::stoi(t.at("num_splits"));
  if (t.count("p_cast") && t.at("p_cast") == "split_hi_lo") a.p_cast = PCastMode::split_hi_lo;
  if (t.count("rescale_threshold_log2")) a.rescale_threshold_log2 = std::stof(t.at("rescale_threshold_log2"));
  if (t.count("mutant")) a.mutant = parse_mutant(t.at("mutant"));
  return a;
}

nlohmann::json attribution_json(const AttributionResult& r) {
  nlohmann::json categories = nlohmann::json::object();
  const double total = r.total_mse > 0 ? r.total_mse : 1.0;
  for (const CategoryAttribution& c : r.categories)
    categories[c.category] = {{"rmse2_share", c.shapley_mse / total}, {"max_abs", c.shapley_max_abs}};
  categories["semantic"] = {{"rmse2_share", r.semantic_mse / total}, {"max_abs", r.semantic_max_abs}};
  nlohmann::json stages = nlohmann::json::object();
  for (const StageAttribution& st : r.stages)
    stages[stage_name(st.stage)] = {{"rmse2_share", st.shapley_mse / total}, {"ablation_mse", st.ablation_mse}};
  return {{"categories", categories}, {"stages", stages}, {"dominant", dominant_category(r)},
          {"emulated_mse", r.total_mse}, {"seconds", r.seconds}};
}

}  // namespace attn
