"""Text to token ids: tokenizers, vocabularies and their caches, token streams, batches."""
