"""Type aliases shared by the package."""

import os
from typing import Tuple, TypeVar, Union

from torch import Tensor

#: A file or folder given as a string or a path object.
PathLike = Union[str, "os.PathLike[str]"]

#: Captum's convention for a method's inputs and what it returns: a tensor gets a
#: tensor back, a one-tensor tuple gets a one-tensor tuple (as Captum's
#: ``TensorOrTupleOfTensorsGeneric``, restricted to the one input our layer
#: methods take).
InputsT = TypeVar("InputsT", Tensor, Tuple[Tensor])
