r"""A restricted unpickler for the Action Genome annotation pickles.

Pickles are only ever read from the user's own data root, never downloaded
or taken from elsewhere; as a second line of defence the unpickler resolves
nothing but the few NumPy and container globals the annotation files use,
so a crafted file cannot run code while it is loaded."""
import pickle
from typing import Any, Dict

#: The only globals an Action Genome pickle needs (NumPy arrays and scalars
#: under NumPy 1 and 2, bytes of protocol-2 pickles, sets).
_PICKLE_GLOBALS = frozenset([
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'),
    ('numpy._core.multiarray', 'scalar'),
    ('numpy.core.numeric', '_frombuffer'),
    ('numpy._core.numeric', '_frombuffer'),
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
    ('_codecs', 'encode'),
    ('builtins', 'bytes'),
    ('builtins', 'bytearray'),
    ('builtins', 'set'),
    ('builtins', 'frozenset'),
    ('collections', 'OrderedDict'),
])


class _ForbiddenGlobal(pickle.UnpicklingError):
    pass


class _AnnotationUnpickler(pickle.Unpickler):
    # Resolves only the globals of _PICKLE_GLOBALS, so a crafted file cannot
    # call arbitrary functions while it is loaded.
    def find_class(self, module: str, name: str) -> Any:
        # Protocols 0-2 may name Python 2's module for the builtins.
        base = 'builtins' if module == '__builtin__' else module
        if (base, name) not in _PICKLE_GLOBALS:
            raise _ForbiddenGlobal(f'{module}.{name}')
        return super().find_class(module, name)


def load_pickle_dict(path: str) -> Dict[str, Any]:
    r"""Loads an Action Genome annotation pickle, which must hold a
    :class:`dict`.

    Only read pickles from your own data root. As a second line of defence
    the unpickler resolves nothing but the few NumPy and container globals
    the annotation files use, so a crafted file cannot run code.

    Raises:
        ValueError: naming the file when it is truncated, corrupt, refers to
            any other global, or does not hold a dict.
    """
    try:
        with open(path, 'rb') as f:
            obj = _AnnotationUnpickler(f).load()
    except _ForbiddenGlobal as e:
        raise ValueError(f"'{path}' refers to '{e}', which an Action Genome "
                         f"annotation file never needs; refusing to load "
                         f"it") from None
    except (EOFError, pickle.UnpicklingError, AttributeError, ImportError,
            IndexError, ValueError, TypeError, KeyError) as e:
        raise ValueError(f"'{path}' is not a readable pickle (truncated or "
                         f"corrupt?): {type(e).__name__}: {e}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"'{path}' must hold a dict keyed by frame, got "
                         f"{type(obj).__name__}")
    return obj


