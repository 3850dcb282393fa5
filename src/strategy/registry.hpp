// The name -> strategy table (src/strategy/registry.cpp); each strategy file defines one.
#pragma once
#include "tidemark/strategy.hpp"

namespace tidemark::strategy {
const Strategy& id_strategy();
const Strategy& updated_at_strategy();
const Strategy& full_strategy();
const Strategy& files_strategy();
const Strategy& cdc_strategy();
}  // namespace tidemark::strategy
