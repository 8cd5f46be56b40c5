"""The `assets/` folder of a .keras archive, as Keras's saving writes and reads it: every object in the model's tree
with `save_assets(dir_path)` is handed its own folder, `assets/<its path in the weights file>` ("layers/
text_vectorization"; the model's own is `assets/`), and at load its `load_assets(dir_path)` gets that folder back
(None when the archive has none). Files only: a member is written under a private temporary folder after its name
(no absolute path, no `..`) and its size are checked, and nothing in it is imported or run."""
import os
import shutil
import tempfile

from ..common.registry import SavingError
from . import safety

PREFIX = "assets/"
MAX_ASSET_BYTES = 1 << 30  # one file; a vocabulary of millions of tokens is a few hundred MiB


def holders(model, children):
    """[(path, object)] for the model and every layer under it, in the weights file's paths; `children(layer)`
    gives a layer's (key, child) pairs as the weights file names them (saving_lib._children)."""
    out = [("", model)]

    def walk(layer, prefix):
        for key, kid in children(layer):
            path = "%s/%s" % (prefix, key) if prefix else key
            out.append((path, kid))
            walk(kid, path)
    walk(model, "")
    return out


def write(z, model, children):
    """Each holder's save_assets into the open zip `z`, under assets/<path>/."""
    savers = [(p, o) for p, o in holders(model, children) if callable(getattr(o, "save_assets", None))]
    if not savers:
        return
    root = tempfile.mkdtemp(prefix="gpunet-assets-")
    try:
        for path, obj in savers:
            folder = os.path.join(root, *path.split("/")) if path else root
            os.makedirs(folder, exist_ok=True)
            obj.save_assets(folder)
        for here, _, files in os.walk(root):
            for name in sorted(files):
                full = os.path.join(here, name)
                z.write(full, PREFIX + os.path.relpath(full, root).replace(os.sep, "/"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def read(z, model, source, children):
    """Each holder's load_assets from the archive's assets/ folder (extracted to a private temporary folder)."""
    loaders = [(p, o) for p, o in holders(model, children) if callable(getattr(o, "load_assets", None))]
    members = [i for i in z.infolist() if i.filename.startswith(PREFIX) and not i.is_dir()]
    if not loaders:
        return
    root = tempfile.mkdtemp(prefix="gpunet-assets-")  # mkdtemp: readable by this user only
    try:
        for info in members:
            rel = info.filename[len(PREFIX):]
            parts = rel.split("/")
            if not rel or rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in parts):
                raise SavingError("%s: the asset %r has a path outside the assets folder" % (source, info.filename))
            safety.check_zip_member(info, source, MAX_ASSET_BYTES)
            target = os.path.join(root, *parts)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        for path, obj in loaders:
            folder = os.path.join(root, *path.split("/")) if path else root
            obj.load_assets(folder if os.path.isdir(folder) else None)
    finally:
        shutil.rmtree(root, ignore_errors=True)
