"""What every room uses and that imports nothing of gpunet: automatic names, the tables a name read from a file is
looked up in (registry.py), the progress bar, interrupt handling, downloads, hashing, PyDataset. The public
`gpunet.utils` namespace re-exports what Keras puts there; it imports from every room, so nothing below it imports
it, and these modules live here instead."""
