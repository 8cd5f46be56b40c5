"""String identifiers -> objects, with a 'did you mean' for typos."""
import difflib


def lookup(kind, identifier, table):
    if identifier in table:
        return table[identifier]
    key = identifier.lower() if isinstance(identifier, str) else identifier
    if key in table:
        return table[key]
    near = difflib.get_close_matches(str(identifier), list(table), n=3, cutoff=0.5)
    hint = (" Did you mean %s?" % " or ".join(repr(n) for n in near)) if near else ""
    raise ValueError("Unknown %s: %r.%s Known: %s" % (kind, identifier, hint, ", ".join(sorted(table))))
