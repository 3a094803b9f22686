"""bench: the harness around vae_core: suites, the cached runner, reports and the CLI."""
