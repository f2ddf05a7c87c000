"""publisher: Markdown articles in, valid feeds and email digests out."""

__version__ = "0.1.0"
