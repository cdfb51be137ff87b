"""CLI command modules. Each exposes ``register(apps)``; keep their top-level imports light."""
