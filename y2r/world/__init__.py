"""The synthetic world: its `language`, `scenes`, `tasks` and the `dataset` that joins them."""
