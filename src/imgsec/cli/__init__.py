"""The command-line interface: one module per command group; parse, call the library, render."""
