"""`keras.ops.linalg`: the linear-algebra ops (also at the top of gpunet.ops, as in Keras)."""
from .numpy_ops import (cholesky, cholesky_inverse, det, eig, eigh, inv, logdet, lstsq, norm, qr,  # noqa: F401
                        slogdet, solve, solve_triangular, svd)
