"""Service features: what a service does beyond keeping its tasks (balancing, discovery)."""
