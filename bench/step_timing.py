"""What bench/gpu_step.py and gpu_programs.py share: gpunet's fit timed per epoch with the launch program it built
(or none: the tape), PyTorch's whole training step (Adam, cross-entropy) timed eagerly or captured once as a CUDA
graph with torch.cuda.graph (PyTorch's documented whole-network capture: warm-up on a side stream, capturable
Adam, the batch copied into static inputs), and the guard that turns one framework's failure into an error row
instead of stopping the run."""
import statistics
import time


def gpunet_timed_fit(keras, model, x, y, batch, steps, epochs, mode):
    """fit `model` (compiled); µs per step (the median over the epochs after the first: compilation, capture and
    warm-up excluded) and the TrainProgram fit built. mode "tape" expects none, the others one."""
    from gpunet.training import gpu_step
    times = []

    class Clock(keras.callbacks.Callback):  # epoch hooks only: a batch hook would add a sync per step
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):  # the epoch's logs were read back: the device is done
            times.append((time.perf_counter() - self.t) / steps * 1e6)

    built, real = [], gpu_step.TrainProgram.build
    gpu_step.TrainProgram.build = staticmethod(lambda *a, **k: built.append(real(*a, **k)) or built[-1])
    try:
        model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[Clock()])
    finally:
        gpu_step.TrainProgram.build = staticmethod(real)
    program = built[-1] if built else None
    if mode != "tape" and program is None:
        raise RuntimeError("fit did not run the launch program (mode %s)" % mode)
    return statistics.median(times[1:]) if len(times) > 1 else times[0], program


def timed_steps(torch, model, xt, yt, batch, steps, epochs, mode, device):
    """µs per step (the median over the epochs after the first) of `steps` shuffled batches an epoch."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, capturable=mode == "graph")
    lossf = torch.nn.CrossEntropyLoss()

    def step(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.detach()

    if mode == "graph":
        sx, sy = xt[:batch].clone(), yt[:batch].clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                step(sx, sy)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            static_loss = lossf(model(sx), sy)
            static_loss.backward()
            opt.step()

        def fn(xb, yb):
            sx.copy_(xb)
            sy.copy_(yb)
            graph.replay()
            return static_loss.detach()
    else:
        fn = torch.compile(step, mode="reduce-overhead") if mode == "compile" else step
    times = []
    for _ in range(epochs):
        sync()
        t = time.perf_counter()
        order = torch.randperm(len(xt), device=xt.device)
        total = torch.zeros((), device=xt.device)
        for s in range(steps):
            idx = order[s * batch:(s + 1) * batch]
            total += fn(xt[idx], yt[idx])
        total.item()
        times.append((time.perf_counter() - t) / steps * 1e6)
    return {"us_per_step": statistics.median(times[1:]) if len(times) > 1 else times[0]}


def row(name, fn, *args):
    try:
        r = fn(*args)
    except Exception as e:  # one failing framework does not stop the others
        r = {"error": "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:300] if str(e) else "")}
    r["name"] = name
    return r
