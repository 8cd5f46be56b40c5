"""`keras.tree`: Keras 3's utilities for nested structures (lists, tuples, namedtuples, dicts, OrderedDicts, ...).

They run on optree, as Keras's do, under Keras's namespace "keras": a structure flattens, and a node type a library
registers there is honoured, exactly as in Keras (dict keys in sorted order, None a leaf, namedtuples and
defaultdicts kept). Keras 3 depends on optree for the same reason: its C++ traversal is the one JAX's pytrees use."""
import optree

_NS = "keras"


class MAP_TO_NONE:
    """What `traverse`'s function returns to put None in the output (None itself means "go on into it")."""


def register_tree_node_class(cls):
    """Registers a class with `tree_flatten()` / `tree_unflatten(aux, children)` methods as a node type."""
    return optree.register_pytree_node_class(cls, namespace=_NS)


def _is_leaf(x, none_is_leaf=True):
    return optree.tree_is_leaf(x, none_is_leaf=none_is_leaf, namespace=_NS)


def is_nested(structure):
    """True for a sequence, mapping or namedtuple (anything with children)."""
    return not _is_leaf(structure)


def flatten(structure):
    """The leaves, depth first (a dict's in sorted key order)."""
    return optree.tree_leaves(structure, none_is_leaf=True, namespace=_NS)


def flatten_with_path(structure):
    """[(path, leaf)], a path being the tuple of keys and indices that reach the leaf."""
    paths, leaves, _ = optree.tree_flatten_with_path(structure, none_is_leaf=True, namespace=_NS)
    return list(zip(paths, leaves))


def _same_structure_fn(func, none_is_leaf=True):
    # optree maps over the first structure's leaves and would take a deeper node in another structure as a leaf:
    # Keras refuses structures that differ
    def checked(*leaves):
        if not all(_is_leaf(x, none_is_leaf) for x in leaves):
            raise ValueError("Structures don't have the same nested structure.")
        return func(*leaves)
    return checked


def map_structure(func, *structures, none_is_leaf=True):
    """func applied to the leaves (zipped across structures of the same shape), in the structure's shape."""
    if not structures:
        raise ValueError("Must provide at least one structure")
    fn = _same_structure_fn(func, none_is_leaf) if len(structures) > 1 else func
    return optree.tree_map(fn, *structures, none_is_leaf=none_is_leaf, namespace=_NS)


def map_structure_up_to(shallow_structure, func, *structures):
    """map_structure down to `shallow_structure`'s leaves: deeper parts of `structures` reach func whole."""
    if not structures:
        raise ValueError("Must provide at least one structure")

    def fn(shallow, *parts):
        if not optree.tree_is_leaf(shallow):
            raise ValueError("Structures don't have the same nested structure.")
        return func(*parts)
    return optree.tree_map(fn, shallow_structure, *structures, none_is_leaf=True, namespace=_NS)


def assert_same_structure(a, b, check_types=None):
    """Raises ValueError unless a and b nest the same way (`check_types` is accepted for Keras 2's callers and,
    as in Keras 3, has no effect: node types must always match)."""
    map_structure(lambda *_: None, a, b)


def assert_same_paths(a, b):
    """Raises ValueError unless a and b have the same set of leaf paths (their node types may differ)."""
    pa = set(optree.tree_paths(a, none_is_leaf=True, namespace=_NS))
    pb = set(optree.tree_paths(b, none_is_leaf=True, namespace=_NS))
    if pa != pb:
        msg = "`a` and `b` don't have the same paths."
        if pa - pb:
            msg += "\nPaths in `a` missing in `b`:\n%s" % (pa - pb,)
        if pb - pa:
            msg += "\nPaths in `b` missing in `a`:\n%s" % (pb - pa,)
        raise ValueError(msg)


def pack_sequence_as(structure, flat_sequence):
    """`flat_sequence`'s items put in `structure`'s shape (flatten's inverse)."""
    _, spec = optree.tree_flatten(structure, none_is_leaf=True, namespace=_NS)
    flat = list(flat_sequence)
    if len(flat) != spec.num_leaves:
        raise ValueError("The target structure has %d leaves, but flat_sequence has %d items: %r"
                         % (spec.num_leaves, len(flat), structure))
    return optree.tree_unflatten(spec, flat)


def traverse(func, structure, top_down=True):
    """Applies func to every node, parents first (top_down) or last. Where func returns None the node is kept (and,
    top down, traversed into); MAP_TO_NONE puts None there; any other value replaces the node."""
    def children():
        kids, spec = optree.tree_flatten(structure, is_leaf=lambda x: x is not structure, none_is_leaf=True,
                                         namespace=_NS)
        if spec.num_nodes == 1 and spec.num_leaves == 1:
            return structure
        return optree.tree_unflatten(spec, [traverse(func, k, top_down=top_down) for k in kids])

    if top_down:
        out = func(structure)
        if out is None:
            return children()
    else:
        kept = children()
        out = func(kept)
        if out is None:
            return kept
    return None if out is MAP_TO_NONE else out


def lists_to_tuples(structure):
    """Every list in the structure becomes a tuple."""
    return traverse(lambda x: tuple(x) if isinstance(x, list) else None, structure, top_down=False)


def map_shape_structure(func, structure):
    """map_structure where a shape (a list or tuple of ints and Nones) is one leaf."""
    def is_shape(x):
        return isinstance(x, (list, tuple)) and all(isinstance(e, (int, type(None))) for e in x)
    return optree.tree_map(func, structure, is_leaf=is_shape, none_is_leaf=True, namespace=_NS)
