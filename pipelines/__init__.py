"""Pure-compute pipelines: plain objects with load(config), __call__(request) and unload()."""
