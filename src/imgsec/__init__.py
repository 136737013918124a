"""imgsec: secure the container-image supply chain for Kubernetes."""

__version__ = "0.1.0"
