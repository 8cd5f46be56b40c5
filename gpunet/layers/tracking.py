"""`keras.src.utils.tracking.no_automatic_dependency_tracking`: what a layer method assigns while it runs is not
tracked. gpunet finds a layer's sublayers by walking its attributes (Layer._sublayers); the attributes such a method
sets are recorded on the layer and that walk skips them, as Keras's tracker ignores assignments in this scope (a
library keeps its own nested config structures there: keras-rs's distributed embedding)."""
import functools


def no_automatic_dependency_tracking(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        owner = args[0] if args else None
        before = dict(getattr(owner, "__dict__", {}))
        try:
            return fn(*args, **kwargs)
        finally:
            state = getattr(owner, "__dict__", None)
            if state is not None:
                changed = {k for k, v in state.items() if k not in before or before[k] is not v}
                if changed:
                    state["_untracked_attrs"] = frozenset(state.get("_untracked_attrs", ())) | changed
    return wrapper
