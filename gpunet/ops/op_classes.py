"""The operation classes Keras 3 writes into a saved Functional model for a `keras.ops` call on symbolic
tensors (`x + y` is saved as {"module": "keras.src.ops.numpy", "class_name": "Add"}), and the gpunet op each
one names. A class name read from a file is looked up in this table and nowhere else: a name that is not a
Keras operation class (a dunder, a helper of gpunet.ops) cannot reach any Python object.

The names below are every `Operation` subclass of `keras.src.ops.<module>` in Keras 3.15, grouped by module
(tests/test_untrusted_files.py checks them against the installed Keras). Each class's op is its snake_case
name (Keras's own rule), except the few in _FUNCTION_OF."""
import re

_KERAS_OP_CLASSES = {
    "numpy": """
        Abs Absolute Add All AllClose Amax Amin Angle Any Append Arange Arccos Arccosh Arcsin Arcsinh Arctan
        Arctan2 Arctanh Argmax Argmin Argpartition Argsort Array ArraySplit Average Bincount BitwiseAnd
        BitwiseInvert BitwiseLeftShift BitwiseNot BitwiseOr BitwiseRightShift BitwiseXor BroadcastTo Cbrt
        Ceil Clip Concatenate Conj Conjugate Copy Corrcoef Correlate Cos Cosh CountNonzero Cross Cumprod
        Cumsum Deg2rad Diag Diagflat Diagonal Diff Digitize Divide DivideNoNan Dot Dsplit Dstack Einsum
        EmptyLike Equal Exp Exp2 ExpandDims Expm1 Fabs Flip Fliplr Flipud Floor FloorDivide Fmax Fmin Fmod
        Full FullLike Gcd Geomspace GetItem Greater GreaterEqual Heaviside Histogram Hsplit Hstack Hypot I0
        Imag Inner IsIn Isclose Isfinite Isinf Isnan Isneginf Isposinf Isreal Kron Lcm Ldexp LeftShift Less
        LessEqual Linspace Log Log10 Log1p Log2 Logaddexp Logaddexp2 LogicalAnd LogicalNot LogicalOr
        LogicalXor Logspace Matmul Max Maximum Mean Median Meshgrid Min Minimum Mod Moveaxis Multiply
        NanToNum Nanargmax Nanargmin Nancumprod Nancumsum Nanmax Nanmean Nanmedian Nanmin Nanpercentile
        Nanprod Nanquantile Nanstd Nansum Nanvar Ndim Negative Nextafter Nonzero NotEqual OnesLike Outer Pad
        Percentile Power Prod Ptp Quantile Rad2deg Ravel Real Reciprocal Repeat Reshape RightShift Roll
        Rot90 Round SearchSorted Select Sign Signbit Sin Sinc Sinh Size Slogdet Sort Split Sqrt Square
        Squeeze Stack Std Subtract Sum Swapaxes Take TakeAlongAxis Tan Tanh Tensordot Tile Trace Transpose
        Trapezoid Tril Triu TrueDivide Trunc Unique UnravelIndex Vander Var Vdot View Vsplit Vstack Where
        ZerosLike
    """,
    "nn": """
        AdaptiveAveragePool AdaptiveMaxPool AveragePool BatchNorm BinaryCrossentropy CTCDecode CTCLoss
        CategoricalCrossentropy Celu Conv ConvTranspose DepthToSpace DepthwiseConv DotProductAttention Elu
        Fold Gelu Glu HardShrink HardSigmoid HardSilu HardTanh LayerNorm LeakyRelu LogSigmoid LogSoftmax
        MaxPool Moments MultiHot Normalize OneHot PSNR Polar RMSNorm Relu Relu6 Selu SeparableConv Sigmoid
        Silu SoftShrink Softmax Softplus Softsign SpaceToDepth SparseCategoricalCrossentropy SparsePlus
        SparseSigmoid Sparsemax Squareplus TanhShrink Threshold Unfold
    """,
    "math": """
        CDist Erf Erfc Erfinv ExtractSequences FFT FFT2 IFFT2 IRFFT ISTFT InTopK Logdet Logsumexp RFFT Rsqrt
        STFT SegmentMax SegmentMin SegmentProd SegmentReduction SegmentSum TopK ViewAsComplex ViewAsReal
    """,
    "core": """
        AssociativeScan Cast Cond ConvertToTensor ForiLoop Map SaturateCast Scan Scatter ScatterUpdate Slice
        SliceUpdate StopGradient Switch Unstack VectorizedMap WhileLoop
    """,
    "linalg": """
        Cholesky CholeskyInverse Det Eig Eigh Inv JVP Lstsq LuFactor MatrixRank Norm Pinv Qr SVD Solve
        SolveTriangular
    """,
    "image": """
        AffineTransform CropImages ElasticTransform ExtractPatches GaussianBlur HSVToRGB MapCoordinates
        PadImages PerspectiveTransform RGBToGrayscale RGBToHSV Resize SSIM ScaleAndTranslate SobelEdges
    """,
    "einops": """
        Rearrange
    """,
}

# classes whose keras.ops function is not their snake_case name
_FUNCTION_OF = {"AllClose": "allclose", "BatchNorm": "batch_normalization", "CDist": "cdist", "IsIn": "isin",
                "LayerNorm": "layer_normalization", "RMSNorm": "rms_normalization", "SearchSorted": "searchsorted"}

# Never loadable from a file: these take Python functions as arguments (branches, loop bodies), which a file
# cannot hold as data; SegmentReduction is an abstract base.
TAKES_CALLABLES = frozenset({"AssociativeScan", "Cond", "ForiLoop", "JVP", "Map", "Scan", "Switch",
                             "VectorizedMap", "WhileLoop"})
_NOT_AN_OP = frozenset({"SegmentReduction"})

# Names earlier gpunet releases wrote for three ops, before this table (Keras spells them differently).
_OLD_GPUNET_NAMES = {"Getitem": "GetItem", "Psnr": "PSNR", "Svd": "SVD"}


def _snake(name):
    """Keras's to_snake_case: "GetItem" -> "get_item", "HSVToRGB" -> "hsv_to_rgb", "FFT2" -> "fft2"."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


MODULE_OF = {cls: module for module, names in _KERAS_OP_CLASSES.items() for cls in names.split()}
FUNCTION_OF = {cls: _FUNCTION_OF.get(cls, _snake(cls)) for cls in MODULE_OF if cls not in _NOT_AN_OP}
_CLASS_OF = {fn: cls for cls, fn in sorted(FUNCTION_OF.items(), reverse=True)}  # "abs" -> "Abs", not "Absolute"
_CLASS_OF["getitem"] = "GetItem"  # `x[...]` on a KerasTensor records gpunet's getitem


def class_for_function(fn_name):
    """(keras class name, keras module) that Keras saves for the op `fn_name`, or None when Keras has none."""
    cls = _CLASS_OF.get(fn_name)
    return None if cls is None else (cls, "keras.src.ops." + MODULE_OF[cls])


def function_for_class(class_name):
    """The keras.ops function name a saved op class stands for; KeyError when it is not a loadable op class."""
    class_name = _OLD_GPUNET_NAMES.get(class_name, class_name)
    if class_name in TAKES_CALLABLES:
        raise KeyError(class_name)
    return FUNCTION_OF[class_name]
