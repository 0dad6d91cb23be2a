"""Pure helpers of the auth modules (nonces, digest checks); no I/O, no clock."""
