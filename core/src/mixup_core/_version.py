"""The version of mixup-core (the package's ``__version__``)."""

__version__ = "0.1.0"
