"""Image sources (registry, OCI layout/archive, docker-archive, rootfs) and layer streaming."""
