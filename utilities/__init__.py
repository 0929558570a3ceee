"""dupFinder: finds byte-identical files and keeps a catalog of every file's hashes in a database."""
__version__ = "0.2.0"
