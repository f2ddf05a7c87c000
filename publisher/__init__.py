"""publisher: Markdown articles in, valid feeds and email digests out."""

__version__ = "0.1.0"

# A site's own files, named here so the command line can say them without loading the config.
DEFAULT_CONFIG_FILE = "config.toml"
SOURCES_FILE = "sources.toml"
