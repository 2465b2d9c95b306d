"""numba, imported without scipy.

`import numba` imports scipy only to check that its version is at least 1.0 (numba's
`_ensure_critical_deps`), which costs every ranking command 0.01-0.04 s; digest's loops use
no scipy. So scipy is hidden while numba loads (an absent scipy is what numba expects to
meet) and is importable as usual right after: the themes stage imports it through
scikit-learn. Every module that compiles loops imports numba from here.
"""

from __future__ import annotations

import sys


def _numba_without_scipy():
    if "numba" in sys.modules or "scipy" in sys.modules:
        import numba

        return numba
    sys.modules["scipy"] = None  # type: ignore[assignment]  # `import scipy` fails meanwhile
    try:
        import numba
    finally:
        if sys.modules.get("scipy", 0) is None:
            del sys.modules["scipy"]
    return numba


numba = _numba_without_scipy()
