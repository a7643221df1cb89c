"""Sources of truth: the content-addressed blob store and the Delta tables."""
