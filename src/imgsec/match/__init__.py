"""Version schemes, package-name normalisation and the vulnerability matcher."""
