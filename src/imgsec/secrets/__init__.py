"""Secret detection in images: compiled rules over layer files and the image config.

``secret_route()`` rides on the single pass over the layers (:func:`imgsec.image.layers.read_layers`);
``find_image_secrets(image, layer_results)`` turns what it found into findings (with ``deleted``
for files a later layer removed or replaced); ``config_secrets(image)`` looks at ``Env``,
``Labels`` and the build history.  Findings only ever carry redacted matches.

Speed: rules are our own compiled regexes behind a keyword prefilter on the lowercased bytes.
detect-secrets 1.5.0's plugins, run line by line, measured 0.2 MB/s here (about 50 s for the
9.5 MB of text files in a 120 MB Debian image), so it is not used; its entropy thresholds are.
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
