"""What a run records of where it ran: the machine and the versions."""

import os
import platform
from typing import Dict

import torch


def machine() -> str:
    """The processor, its cores, torch's threads and the system."""
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"{torch.get_num_threads()} torch threads, {platform.system()}"
    )


def versions() -> Dict[str, str]:
    """torch's, Captum's, this package's and Python's versions."""
    import captum

    import captum_nlp_ext

    return {
        "torch": torch.__version__,
        "captum": captum.__version__,
        "captum_nlp_ext": getattr(captum_nlp_ext, "__version__", "unknown"),
        "python": platform.python_version(),
    }
