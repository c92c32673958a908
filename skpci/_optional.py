"""Optional packages: imported when a feature needs them, with the extra that installs them named."""


def require(package, extra):
    """Import an optional package, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError as error:
        raise ImportError(f"This needs the optional package {package!r}: pip install 'skpci[{extra}]'.") from error
