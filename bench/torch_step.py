"""What bench/gpu_step.py and gpu_programs.py share for their PyTorch rows: a model's whole training step (Adam,
cross-entropy) timed eagerly or captured once as a CUDA graph with torch.cuda.graph (PyTorch's documented
whole-network capture: warm-up on a side stream, capturable Adam, the batch copied into static inputs), and the
guard that turns one framework's failure into an error row instead of stopping the run."""
import statistics
import time


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
