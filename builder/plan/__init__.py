"""Plan layer: model -> networkx graph, selection, cache keys -> a serialisable BuildPlan (no Docker)."""
