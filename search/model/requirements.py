"""Whether this install has torch and open_clip (the ``pixsift[torch]`` extra), asked without
importing them, and the one-line error that says what to install where they are needed."""

from __future__ import annotations

import importlib.util

from pixsift.search.errors import TorchRequiredError

TORCH_PACKAGES = ("torch", "torchvision", "open_clip")
INSTALL_TORCH = "pip install 'pixsift[torch]'"


def torch_installed() -> bool:
    """Whether torch, torchvision and open_clip can be imported (found, not imported: seconds)."""
    return all(importlib.util.find_spec(name) is not None for name in TORCH_PACKAGES)


def require_torch(purpose: str, alternative: str = "") -> None:
    """Raise TorchRequiredError, one line naming ``purpose`` and what to install, unless torch
    and open_clip are installed. ``alternative``: what works without torch, if anything."""
    if torch_installed():
        return
    missing = ", ".join(name for name in TORCH_PACKAGES if importlib.util.find_spec(name) is None)
    tail = f"; {alternative}" if alternative else ""
    raise TorchRequiredError(
        f"{purpose} needs torch and open_clip ({missing} not installed): {INSTALL_TORCH}{tail}"
    )


#: What a command that only needs a model's towers can use instead of exporting them.
USE_A_PACK = (
    "or run with a model pack, which needs no torch: --model DIR "
    "(pixsift models list; pixsift models import DIR)"
)
