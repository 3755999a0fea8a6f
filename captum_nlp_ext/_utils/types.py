"""Type aliases shared by the package."""

import os
from typing import Union

#: A file or folder given as a string or a path object.
PathLike = Union[str, "os.PathLike[str]"]
