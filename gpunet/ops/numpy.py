"""`keras.ops.numpy`: the NumPy-style ops under the namespace Keras gives them; each is gpunet.ops's own function
(namespaces.py lists the names)."""


def __getattr__(name):
    from .namespaces import lookup
    return lookup("numpy", name)
