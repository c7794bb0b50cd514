"""Encrypted payloads: an AES-GCM payload codec with a key ring, for Temporal and the stores.

Turn it on with one setting, ``DURAGENT_ENCRYPTION_KEYS_FILE`` (a YAML key ring, see
``load_key_ring``), on every worker and client: Temporal payloads (inputs, outputs, tool
arguments and results, failure messages and stack traces), the payload store's files and the
transcript store's rows are then sealed under the ring's active key. ``duragent codec-server``
(``duragent.encryption.server``) decodes them for the Web UI and the ``temporal`` CLI.

Workers and clients import this package; workflows never do (it reads files).
"""

from duragent.encryption._codec import ENCODING, KEY_ID, EncryptionCodec, PlaintextCodec
from duragent.encryption._keys import SETTING, KeyRing, KeyRingError, load_key_ring, new_key

__all__ = [
    "ENCODING",
    "KEY_ID",
    "SETTING",
    "EncryptionCodec",
    "KeyRing",
    "KeyRingError",
    "PlaintextCodec",
    "load_key_ring",
    "new_key",
]
