"""What a file may name, and how much of it is read, before anything is built from it.

People load models they downloaded, so nothing in a file is code. A config names classes, functions and ops
only through explicit tables: gpunet's built-ins (the same tables `layers.get`, `losses.get`, ... use), Keras's
saved op classes (ops/op_classes.py), classes registered with `register_keras_serializable`, and
`custom_objects`. `check_config` walks a whole config against those tables before the first object is made,
and refuses anything else with a SavingError naming the class and its module. A Python lambda saved as
bytecode loads only with `safe_mode=False` (or after `gpunet.config.enable_unsafe_deserialization()`),
as in Keras.

The sizes of what is read are bounded before it is read: config.json's bytes and nesting depth, each zip
member's declared size and compression ratio."""
import json

from ..common import registry
from ..common.registry import SavingError

MAX_CONFIG_BYTES = 64 << 20     # config.json: a ResNet-152's is ~300 KB
MAX_CONFIG_DEPTH = 200          # JSON nesting; a deeply nested real model stays under 60
MAX_MEMBER_RATIO = 100          # a zip member that inflates more than this (deflate peaks near 1000) ...
RATIO_FLOOR_BYTES = 16 << 20    # ... and past this size is a zip bomb; float weights compress ~1.1x


# ---- sizes ----

def json_depth(text):
    """The deepest nesting of [ and { in JSON text (brackets inside strings skipped), found without parsing:
    json.loads itself would recurse that deep."""
    depth = deepest = 0
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_json(raw, source, what="config.json"):
    """A config read from a file: bounded in size and depth before json.loads sees it."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_CONFIG_BYTES:
            raise SavingError("%s: %s is %d bytes, over the %d-byte limit for a model config"
                              % (source, what, len(raw), MAX_CONFIG_BYTES))
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SavingError("%s: %s is not UTF-8 text: %s" % (source, what, e)) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise SavingError("%s: %s is %d characters, over the %d limit for a model config"
                          % (source, what, len(raw), MAX_CONFIG_BYTES))
    depth = json_depth(raw)
    if depth > MAX_CONFIG_DEPTH:
        raise SavingError("%s: %s nests %d levels deep, over the limit of %d: not a model config"
                          % (source, what, depth, MAX_CONFIG_DEPTH))
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise SavingError("%s: %s is not valid JSON: %s" % (source, what, e)) from None


def check_zip_member(info, source, limit=None):
    """A member of a .keras archive whose declared size is read into memory: its size and inflation ratio
    are checked from the central directory, before a byte is decompressed."""
    if limit is not None and info.file_size > limit:
        raise SavingError("%s: %s declares %d bytes, over the %d-byte limit" % (source, info.filename, info.file_size,
                                                                               limit))
    if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_MEMBER_RATIO * max(info.compress_size, 1):
        raise SavingError("%s: %s declares %d bytes stored in %d (%.0fx): refusing a likely zip bomb"
                          % (source, info.filename, info.file_size, info.compress_size,
                             info.file_size / max(info.compress_size, 1)))


# ---- names ----

# plain data, never a class: tensors and slices in node arguments, a layer's dtype policy (read by Layer as a dict)
_SPECIAL_DATA = {"__keras_tensor__", "__numpy__", "__tensor__", "__bytes__", "__ellipsis__", "__slice__", "DTypePolicy",
                 "FloatDTypePolicy", "DTypePolicyMap"}


def _is_keras_module(module):
    return module in (None, "", "keras", "builtins") or (isinstance(module, str) and module.startswith("keras."))


def describe(d):
    return "class %r (module %r)" % (d.get("class_name"), d.get("module"))


def check_config(config, custom_objects=None, source="The saved model", compile=True):
    """Every serialized object in `config` (any dict with a "class_name") must resolve through a table;
    raises SavingError naming the first that does not — before any object is built. A Python lambda is
    refused here in safe mode. `compile=False` skips the compile config, which is then never read."""
    stack = [(config, "the model")]
    while stack:
        obj, where = stack.pop()
        if isinstance(obj, list):
            stack.extend((v, where) for v in reversed(obj))  # popped in file order: the first bad name is named
            continue
        if not isinstance(obj, dict):
            continue
        if "class_name" in obj and ("config" in obj or "module" in obj):
            inner = obj.get("config")
            name = obj.get("name") or (inner.get("name") if isinstance(inner, dict) else None)
            if isinstance(name, str):
                where = "%r" % name
            problem = check_object(obj, custom_objects)
            if problem:
                raise SavingError("%s: %s in %s: %s" % (source, describe(obj), where, problem))
        for k, v in reversed(list(obj.items())):
            if k == "compile_config" and not compile:
                continue
            if isinstance(v, (dict, list)):
                stack.append((v, where if k in ("config", "layers") else "%s (%s)" % (where, k)))


def check_object(d, custom_objects):
    """None when the serialized object `d` can be loaded, else why not."""
    name, module, reg = d.get("class_name"), d.get("module"), d.get("registered_name")
    if not isinstance(name, str):
        return "class_name must be a string"
    if name == "__lambda__":
        if registry.in_safe_mode():
            return registry.LAMBDA_REFUSED
        return None
    if name in _SPECIAL_DATA:
        return None
    if name == "__typespec__":
        return "TensorFlow type specs are not supported"
    for key in (reg, name):
        if isinstance(key, str) and key and registry.get_registered_object(key, custom_objects) is not None:
            return None  # the user's own class or function: any module
    if name == "function":
        fn = d.get("config")
        if isinstance(fn, str) and _is_keras_module(module) and fn in registry.builtin_functions():
            return None
        if isinstance(fn, str) and registry.get_registered_object(fn, custom_objects) is not None:
            return None
        return "the function %r is neither a Keras built-in nor registered. %s." % (fn, registry.CUSTOM_HINT)
    if isinstance(module, str) and (module.startswith("keras.src.ops.") or module == "keras.ops"):
        from ..ops import op_classes
        try:
            op_classes.function_for_class(name)
        except KeyError:
            if name in op_classes.TAKES_CALLABLES:
                return "the op takes Python functions as arguments, which a saved file cannot hold"
            return "not one of Keras's saved operation classes"
        return None
    if not _is_keras_module(module):
        return "not a Keras built-in and not registered. %s." % registry.CUSTOM_HINT
    if name in registry.builtin_classes():
        return None
    return "unknown class. %s." % registry.CUSTOM_HINT
