"""Pipeline fixtures: the indexer's tiny model folder (builds given a model skip training)."""

