"""One importer per advisory format; each reads one input and writes through a DBWriter."""
