"""Real parallel corpora fetched onto the user's machine (never shipped with lfe)."""
