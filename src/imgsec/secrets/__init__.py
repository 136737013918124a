"""Secret detection in images: compiled rules over layer files and the image config.

``secret_route()`` rides on the single pass over the layers (:func:`imgsec.image.layers.read_layers`);
``find_image_secrets(image, layer_results)`` turns what it found into findings (with ``deleted``
for files a later layer removed or replaced); ``config_secrets(image)`` looks at ``Env``,
``Labels`` and the build history.  Findings only ever carry redacted matches.

Speed: rules are our own compiled regexes, each starting with a literal that ``re`` finds at
``bytes.find`` speed (about 1.8 GB/s here), and the secret-name scan looks only at lines holding
a secret-like word.  Measured on this machine: the bookworm fixture (120 MB uncompressed, 0.5 s
to read) costs 14 ms of scanning; the langs fixture (PyPI/npm/Go/Java trees, 2,700 files and
43 MB read, 0.6 s) costs 0.13 s.  detect-secrets 1.5.0's plugins, run line by line, measured
0.2 MB/s (about 50 s for the text of the bookworm image), so it is not used; its entropy
thresholds (base64 > 4.5, hex > 3.0 bits per character) are.
"""

from imgsec.secrets.detect import ALL_RULES, Rule, scan_bytes
from imgsec.secrets.image import config_secrets, find_image_secrets, secret_route
from imgsec.secrets.model import SecretFinding, SecretMatch, redact

__all__ = [
    "ALL_RULES",
    "Rule",
    "SecretFinding",
    "SecretMatch",
    "config_secrets",
    "find_image_secrets",
    "redact",
    "scan_bytes",
    "secret_route",
]
