"""How a model is trained: the machinery behind Model.fit / evaluate / predict (models/ holds what a model is).

epoch_loop.py   the skeleton every fit runs on: callbacks, epochs, seeded streams, validation, logs
array_loop.py   the built-in steps on arrays resident on the device (the fast loop)
batch_loop.py   the model's own train_step / test_step / predict_step, one batch per call, as Keras calls them
data.py, targets.py, batches.py   data adapters: arrays checked and cast once, labels, class weights, batches
tape_step.py    what a step needs (its Plan, resolved once per fit) and the tape executor (any model)
cpu_step.py     the compiled CPU step (a chain of Dense-family layers; no tape)
gpu_step.py     the static launch program (a CUDA graph on a GPU, the emulated kernels on the CPU)
gpu_runner.py   what runs it on CuPy: its memory pool, stream, graph capture and replay, readback
parallel.py     DataParallel across processes: each process's rows, the reductions, the agreements"""
