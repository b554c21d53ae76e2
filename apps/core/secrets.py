import hashlib


def secret_mask(secret: str, *, visible: int = 4) -> str:
    """A display mask that keeps a recognisable prefix and the last characters: `sk-…abcd`."""
    secret = secret.strip()
    if len(secret) <= visible * 2:
        return "…" + secret[-2:] if len(secret) > 2 else "…"
    prefix = secret[:3] if secret[:3].isascii() else ""
    return f"{prefix}…{secret[-visible:]}"


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
