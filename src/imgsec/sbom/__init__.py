"""Software bill of materials: the package model, catalogers and SBOM formats."""
