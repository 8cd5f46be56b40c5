"""The launchers of kernels/*.cu and the machinery that builds them; only ops and the optimizers' kernel path
call in here (and the training package's step programs, which record the same launches once per fit).

One launcher module per kernel family, named as its .cu file: dense, softmax_xent, optim, step, conv, pool,
norm, rnn, attention. They share launch.py (Launch, typed arguments, output buffers) and build.py (NVRTC,
the per-device module cache; emulated.py runs the same sources on the CPU through HIP-CPU). The CPU side:
cpu.py binds the C kernels kernels/cpu_*.c, native.py builds them into a private cache, cpu_parallel.py
runs chunks of a batch on every core."""
