"""The static launch program of fit/evaluate/predict on the kernel backend (gpunet/training/gpu_step.py),
run in the emulated tier (the same launches a GPU replays as a CUDA graph) against the NumPy backend's
compiled CPU step and against the tape path, for every option the program honours; and the options it
cannot honour send fit to the tape path, which gives the same numbers."""
import itertools
import tracemalloc

import numpy as np
import pytest
from conftest import in_tier

import gpunet
from gpunet import backend
from gpunet.kernels import emulated
from gpunet.training import gpu_runner, gpu_step
from gpunet.training.tape_step import _Plan

pytestmark = pytest.mark.emulated


def _mlp(hidden=128, inputs=784, classes=10, dropout=0.2, act="relu", extra=()):
    layers = [gpunet.Input((inputs,)), gpunet.layers.Dense(hidden, activation=act)]
    if dropout:
        layers.append(gpunet.layers.Dropout(dropout))
    layers += list(extra) + [gpunet.layers.Dense(classes, activation="softmax")]
    return gpunet.Sequential(layers)


def _data(n, inputs=784, classes=10, seed=0, onehot=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, inputs)).astype(np.float32)
    y = rng.integers(0, classes, n)
    return x, (np.eye(classes, dtype=np.float32)[y] if onehot else y)


def _fit(tier, make, optimizer, x, y, *, seed=7, metrics=("accuracy",), **fit_kw):
    """A fresh model trained in a tier; returns (weights, history, model)."""
    with in_tier(tier):
        gpunet.utils.clear_session()
        gpunet.utils.set_random_seed(seed)
        m = make()
        compile_kw = dict(fit_kw.pop("compile_kw", {}))
        loss = "categorical_crossentropy" if np.ndim(y) == 2 else "sparse_categorical_crossentropy"
        loss = compile_kw.pop("loss", loss)
        m.compile(optimizer=optimizer(), loss=loss() if callable(loss) else loss, metrics=list(metrics), **compile_kw)
        h = m.fit(x, y, verbose=0, **fit_kw)
        return m.get_weights(), h.history, m


def _same(a, b, rtol=2e-5, atol=2e-6):
    for u, v in zip(a[0], b[0]):
        np.testing.assert_allclose(u, v, rtol=rtol, atol=atol)
    for k in b[1]:
        np.testing.assert_allclose(a[1][k], b[1][k], rtol=1e-5, atol=1e-6, err_msg=k)


def _used_program(monkeypatch):
    """Records every TrainProgram fit builds (None when the model or an option is not eligible)."""
    built = []
    real = gpu_step.TrainProgram.build

    def spy(*a, **k):
        p = real(*a, **k)
        built.append(p)
        return p
    monkeypatch.setattr(gpu_step.TrainProgram, "build", staticmethod(spy))
    return built


def test_50_steps_of_the_classic_mlp_equal_the_numpy_step_plan(monkeypatch):
    """The acceptance run: 784-128-10 with dropout, Adam on an exponential-decay schedule, batch 32 over
    1,575 samples (49 full batches and a last one of 7): 50 steps of the launch program (emulated) give
    the weights and logs of the NumPy backend's compiled CPU step."""
    x, y = _data(49 * 32 + 7)
    opt = lambda: gpunet.optimizers.Adam(gpunet.optimizers.schedules.ExponentialDecay(3e-3, 10, 0.8))  # noqa: E731
    built = _used_program(monkeypatch)
    got = _fit("emulate", _mlp, opt, x, y, batch_size=32, epochs=1)
    assert isinstance(built[0], gpu_step.TrainProgram)
    assert int(got[2].optimizer.iterations.numpy()) == 50 and got[2].optimizer._host_step == 50
    want = _fit("numpy", _mlp, opt, x, y, batch_size=32, epochs=1)
    # float32 tolerance after 50 Adam steps: the GEMMs sum in another order than BLAS, and Adam's
    # m/√v turns a last-bit difference of a tiny gradient into up to ~0.2% of one lr-sized step
    _same(got, want, rtol=1e-4, atol=1e-5)
    assert got[2].optimizer.learning_rate == want[2].optimizer.learning_rate


def _small(act="relu", dropout=0.25, extra=lambda: ()):
    return lambda: _mlp(hidden=9, inputs=13, classes=5, dropout=dropout, act=act, extra=extra())


OPTIONS = {
    "adamw": (lambda: gpunet.optimizers.AdamW(0.01), {}),
    "amsgrad": (lambda: gpunet.optimizers.Adam(0.01, amsgrad=True), {}),
    "sgd": (lambda: gpunet.optimizers.SGD(0.05), {}),
    "nesterov_wd": (lambda: gpunet.optimizers.SGD(0.05, momentum=0.9, nesterov=True, weight_decay=0.01), {}),
    "rmsprop_centered": (lambda: gpunet.optimizers.RMSprop(0.01, momentum=0.5, centered=True), {}),
    "piecewise": (lambda: gpunet.optimizers.SGD(gpunet.optimizers.schedules.PiecewiseConstantDecay([3, 7],
                                                                                                     [0.1, 0.05, 0.01])), {}),
    "onehot_smoothing": (lambda: gpunet.optimizers.Adam(0.01),
                         {"onehot": True, "compile_kw": {"loss": lambda: gpunet.losses.CategoricalCrossentropy(
                             label_smoothing=0.1)}}),
    "no_shuffle": (lambda: gpunet.optimizers.Adam(0.01), {"shuffle": False}),
    "gelu_no_dropout": (lambda: gpunet.optimizers.Adam(0.01), {"make": _small("gelu", dropout=0)}),
    "from_logits": (lambda: gpunet.optimizers.Adam(0.01),
                    {"make": lambda: gpunet.Sequential([gpunet.Input((13,)), gpunet.layers.Dense(9, activation="relu"),
                                                        gpunet.layers.Dropout(0.25), gpunet.layers.Dense(5)]),
                     "compile_kw": {"loss": lambda: gpunet.losses.SparseCategoricalCrossentropy(from_logits=True)}}),
    "from_logits_onehot": (lambda: gpunet.optimizers.SGD(0.1),
                           {"onehot": True, "make": lambda: gpunet.Sequential([
                               gpunet.Input((13,)), gpunet.layers.Dense(9), gpunet.layers.Activation("tanh"),
                               gpunet.layers.Dense(5, activation="sigmoid")]),
                            "compile_kw": {"loss": lambda: gpunet.losses.CategoricalCrossentropy(
                                from_logits=True, label_smoothing=0.1)}}),
    "activation_layer": (lambda: gpunet.optimizers.Adam(0.01),
                         {"make": _small("linear", dropout=0, extra=lambda: [
                             gpunet.layers.Activation("tanh"), gpunet.layers.Dropout(0.25),
                             gpunet.layers.Dense(6, activation="sigmoid"), gpunet.layers.Dropout(0.5)])}),
    "steps_per_execution": (lambda: gpunet.optimizers.Adam(0.01), {"compile_kw": {"steps_per_execution": 3}}),
    "steps_per_epoch": (lambda: gpunet.optimizers.Adam(0.01), {"steps_per_epoch": 4}),
    "validation": (lambda: gpunet.optimizers.Adam(0.01), {"validation_split": 0.25}),
    "clipnorm": (lambda: gpunet.optimizers.Adam(0.01, clipnorm=0.1), {}),
    "clipvalue": (lambda: gpunet.optimizers.SGD(0.1, clipvalue=0.01), {}),
    "global_clipnorm": (lambda: gpunet.optimizers.RMSprop(0.01, global_clipnorm=0.1), {}),
    "use_ema": (lambda: gpunet.optimizers.Adam(0.01, use_ema=True, ema_momentum=0.9), {}),
    "ema_overwrite": (lambda: gpunet.optimizers.SGD(0.05, momentum=0.5, use_ema=True,
                                                    ema_overwrite_frequency=3), {}),
    "loss_scale": (lambda: gpunet.optimizers.Adam(0.01, loss_scale_factor=8.0, clipnorm=0.5), {}),
    "accumulation": (lambda: gpunet.optimizers.RMSprop(0.01, gradient_accumulation_steps=3, use_ema=True,
                                                       ema_overwrite_frequency=2, global_clipnorm=0.3), {}),
    "everything": (lambda: gpunet.optimizers.AdamW(gpunet.optimizers.schedules.CosineDecay(0.02, 30), clipnorm=0.2,
                                                   use_ema=True, gradient_accumulation_steps=2,
                                                   loss_scale_factor=4.0, amsgrad=True), {}),
}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_every_option_the_program_runs_equals_numpy_and_the_tape(name, monkeypatch):
    """Each option the program honours, against the NumPy backend (its compiled step where eligible) and
    against the tape on the same emulated kernels (run_eagerly), over 3 epochs with a short last batch."""
    opt, kw = OPTIONS[name]
    kw = dict(kw)
    make = kw.pop("make", _small())
    x, y = _data(61, inputs=13, classes=5, seed=3, onehot=kw.pop("onehot", False))
    built = _used_program(monkeypatch)
    fit_kw = dict(batch_size=8, epochs=3, **kw)
    got = _fit("emulate", make, opt, x, y, **fit_kw)
    assert isinstance(built[-1], gpu_step.TrainProgram), name
    want = _fit("numpy", make, opt, x, y, **fit_kw)
    _same(got, want)
    eager_kw = dict(fit_kw)
    eager_kw["compile_kw"] = dict(kw.get("compile_kw", {}), run_eagerly=True)
    tape = _fit("emulate", make, opt, x, y, **eager_kw)
    assert built[-1] is None or len(built) == 1  # run_eagerly never builds a program
    _same(got, tape)


FALLBACKS = {
    "nadam": lambda: gpunet.optimizers.Nadam(0.01),
}


@pytest.mark.parametrize("name", sorted(FALLBACKS))
def test_options_the_program_cannot_honour_take_the_tape_path(name, monkeypatch):
    """No silent skip: an option the program does not implement sends fit to the tape path (no program is
    built), whose numbers are the NumPy backend's."""
    x, y = _data(61, inputs=13, classes=5, seed=4)
    built = _used_program(monkeypatch)
    got = _fit("emulate", _small(), FALLBACKS[name], x, y, batch_size=8, epochs=2)
    assert built == [None]
    want = _fit("numpy", _small(), FALLBACKS[name], x, y, batch_size=8, epochs=2)
    _same(got, want, rtol=1e-4, atol=1e-5)


def test_models_and_inputs_outside_the_program_take_the_tape_path(monkeypatch):
    x, y = _data(40, inputs=13, classes=5)
    built = _used_program(monkeypatch)
    # sample weights, a metric the kernels do not count, a regularizer, a non-fusable activation
    _fit("emulate", _small(), lambda: "adam", x, y, sample_weight=np.ones(40))
    _fit("emulate", _small(), lambda: "adam", x, y, metrics=("sparse_categorical_crossentropy",))
    _fit("emulate", lambda: gpunet.Sequential([gpunet.Input((13,)), gpunet.layers.Dense(
        5, activation="softmax", kernel_regularizer="l2")]), lambda: "adam", x, y)
    _fit("emulate", _small("elu"), lambda: "adam", x, y)
    assert built == [None, None, None]  # (sample weights send fit to the tape before any program is built)


def test_a_callback_that_changes_the_learning_rate_mid_epoch_is_honoured(monkeypatch):
    """The per-step scalars are uploaded once per epoch; a rate set by a batch callback is seen at the next
    step (the rest of the table is uploaded again, outside the step)."""
    class Halve(gpunet.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                self.model.optimizer.learning_rate = self.model.optimizer.learning_rate / 2

    x, y = _data(61, inputs=13, classes=5, seed=5)
    built = _used_program(monkeypatch)
    got = _fit("emulate", _small(), lambda: gpunet.optimizers.SGD(0.1), x, y, batch_size=8, epochs=2,
               callbacks=[Halve()])
    assert isinstance(built[0], gpu_step.TrainProgram)
    want = _fit("numpy", _small(), lambda: gpunet.optimizers.SGD(0.1), x, y, batch_size=8, epochs=2,
                callbacks=[Halve()])
    _same(got, want)
    assert got[2].optimizer.learning_rate == pytest.approx(0.025)


@pytest.mark.parametrize("tier", ["emulate", "numpy"])
def test_steps_per_execution_calls_batch_hooks_once_per_replay(tier):
    """Keras: with steps_per_execution=N the batch hooks run once per execution, begin with its first step
    and end with its last; the logs they get are the running epoch means. The same on the CPU paths."""
    seen = []

    class Rec(gpunet.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(("begin", batch))

        def on_train_batch_end(self, batch, logs=None):
            seen.append(("end", batch, round(logs["loss"], 6)))

    x, y = _data(61, inputs=13, classes=5, seed=6)
    _, h, _ = _fit(tier, _small(), lambda: "adam", x, y, batch_size=8, epochs=1, callbacks=[Rec()],
                   compile_kw={"steps_per_execution": 3})
    assert [s[:2] for s in seen] == [("begin", 0), ("end", 2), ("begin", 3), ("end", 5), ("begin", 6), ("end", 7)]
    assert seen[-1][2] == round(h["loss"][0], 6)


def test_evaluate_and_predict_run_forward_programs_equal_to_numpy(monkeypatch):
    x, y = _data(53, inputs=13, classes=5, seed=8)
    for onehot in (False, True):
        yy = np.eye(5, dtype=np.float32)[y] if onehot else y
        res = {}
        for tier in ("emulate", "numpy"):
            _, _, m = _fit(tier, _small(), lambda: "adam", x, yy, batch_size=8, epochs=1)
            with in_tier(tier):
                before = dict(emulated.launch_counts)
                res[tier] = (m.evaluate(x, yy, batch_size=7, verbose=0), m.predict(x, batch_size=6, verbose=0))
                ran = {k for k, v in emulated.launch_counts.items() if v > before.get(k, 0)}
            if tier == "emulate":
                assert {"step_begin", "gather_batch", "xent_accumulate", "rows_out"} <= ran
                assert "dropout_forward" not in ran  # inference: no dropout
        np.testing.assert_allclose(res["emulate"][0], res["numpy"][0], rtol=1e-5)
        np.testing.assert_allclose(res["emulate"][1], res["numpy"][1], rtol=1e-5, atol=1e-7)


def test_predict_of_a_non_softmax_head():
    """predict's program writes the last Dense's own activation (sigmoid here), not a softmax."""
    x, _ = _data(23, inputs=13)
    out = {}
    for tier in ("emulate", "numpy"):
        with in_tier(tier):
            gpunet.utils.set_random_seed(2)
            m = gpunet.Sequential([gpunet.Input((13,)), gpunet.layers.Dense(7, activation="relu"),
                                   gpunet.layers.Dense(3, activation="sigmoid")])
            before = emulated.launch_counts["rows_out"]
            out[tier] = m.predict(x, batch_size=5, verbose=0)
            if tier == "emulate":
                assert emulated.launch_counts["rows_out"] == before + 5
    np.testing.assert_allclose(out["emulate"], out["numpy"], rtol=1e-5, atol=1e-7)


def _classic_program(batch=32, n=100):
    x, y = _data(n)
    gpunet.utils.set_random_seed(1)
    m = _mlp()
    m.compile(optimizer=gpunet.optimizers.Adam(gpunet.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.9)),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m._ensure_built(x.shape)
    plan = _Plan(m, y, m._output_shape())
    m.optimizer.build(plan.variables)
    xd, yd = backend.to_device(x), backend.to_device(y.astype(np.int32))
    steps = -(-n // batch)
    prog = gpu_step.TrainProgram.build(m, plan, xd, yd, batch, steps, shuffle=True)
    assert prog is not None
    gpunet.random.set_epoch_stream(np.random.default_rng(0), (1, 0))
    prog.begin_epoch(np.random.default_rng(0).permutation(n), (1, 0))
    return prog


class _HostReads(Exception):
    pass


def check_step_is_static(prog, monkeypatch):
    """Inside a step: every array argument of every launch is a buffer the program (or the optimizer, a weight, or
    the resident dataset) allocated at build; the step's Python allocates no array (traced) and reads no device
    value back (every host read of a program buffer raises here). Only the launches themselves run."""
    gpunet.random.set_epoch_stream(np.random.default_rng(0), (1, 0))
    prog.begin_epoch(np.random.default_rng(0).permutation(prog.n), (1, 0))
    owned = prog.arena.buffers + [prog.opt._flat, prog.opt._grad, *prog.opt._state.values(), *prog._hold]
    owned += [v.data for v in prog.model.weights]

    def is_owned(a):
        base = a
        while base.base is not None and isinstance(base.base, np.ndarray):
            base = base.base
        return any(np.shares_memory(a, o) for o in owned) or base is prog.opt.iterations.data

    for launch in prog.launches:
        for a in launch.args:
            if isinstance(a, np.ndarray) and a.ndim:
                assert is_owned(a), "%r takes an array allocated outside the program" % launch
    prog.run(1)  # one real step first (emulated), then one with the launches recorded only
    ran, pos = [None] * len(prog.launches), itertools.count()  # sized up front: the record allocates nothing
    for launch in prog.launches:
        monkeypatch.setattr(launch, "kernel", lambda g, b, a, name=launch.name: ran.__setitem__(next(pos), name))
    monkeypatch.setattr(backend, "to_numpy", lambda *a: (_ for _ in ()).throw(_HostReads()))
    monkeypatch.setattr(backend, "get_xp", lambda *a: (_ for _ in ()).throw(_HostReads()))
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        prog.run(1)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert ran == [launch.name for launch in prog.launches]
    # the smallest buffer of the classic step (one 10-class batch of logits) is 1,280 bytes: nothing that size
    assert peak < 1024, "the step allocated %d bytes" % peak


def test_a_step_allocates_nothing_and_reads_nothing_back(emulated_tier, monkeypatch):
    check_step_is_static(_classic_program(), monkeypatch)


PER_STEP = {
    # the first kernels, one 64×64 tile per block (GPUNET_DENSE_VARIANT=tile)
    "tile": {"step_begin": 1, "gather_batch": 1, "dense_forward": 2, "dropout_forward": 1,
             "softmax_xent_forward": 1, "xent_accumulate": 1, "softmax_xent_backward": 1,
             "dense_backward_weight": 2, "mask_multiply": 1, "dense_backward_data": 1, "adam_update_ctl": 1},
    # the default rule at batch 32: the 784-wide forward split over K (partials + reduce), the last Dense fused
    # with the loss, its sums and its gradient; the 10-wide dX has too little K to split
    "auto": {"step_begin": 1, "gather_batch": 1, "dense_forward_partial": 1, "splitk_reduce": 1,
             "dropout_forward": 1, "dense_xent_head": 1, "dense_backward_weight": 2, "mask_multiply": 1,
             "dense_backward_data": 1, "adam_update_ctl": 1},
}


@pytest.mark.parametrize("variant", sorted(PER_STEP))
def test_launches_per_step_against_the_floor(emulated_tier, capsys, monkeypatch, variant):
    """Counted, not assumed: one step of the classic MLP with dropout runs these launches. The floor for
    this layer program is one launch per GEMM (2 forward, 2 weight gradients, 1 data gradient) and one
    optimizer update: every other kernel (prologue, gather, dropout, loss, sums) could be fused into those."""
    monkeypatch.setenv("GPUNET_DENSE_VARIANT", variant)
    prog = _classic_program()
    before = dict(emulated.launch_counts)
    prog.run(1)
    per_step = {k: v - before.get(k, 0) for k, v in emulated.launch_counts.items() if v > before.get(k, 0)}
    assert per_step == PER_STEP[variant]
    total, floor = sum(per_step.values()), 2 + 2 + 1 + 1
    with capsys.disabled():
        print("\nlaunches per step (784-128-10, dropout, Adam, %s): %d; floor %d (GEMMs + optimizer); "
              "eager tape before this program: 29 launches and 28 allocations" % (variant, total, floor))
    assert total == sum(PER_STEP[variant].values()) and len(prog.launches) == total


def test_steps_per_execution_in_the_per_batch_keras_loop():
    """A custom train_step runs the per-batch loop: the same hook cadence, the last short execution included."""
    seen = []

    class Rec(gpunet.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(("begin", batch))

        def on_train_batch_end(self, batch, logs=None):
            seen.append(("end", batch))

    class M(gpunet.Sequential):
        def train_step(self, data):
            return super().train_step(data)

    x, y = _data(61, inputs=13, classes=5, seed=6)
    with in_tier("numpy"):
        m = M([gpunet.Input((13,)), gpunet.layers.Dense(5, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", steps_per_execution=3)
        m.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[Rec()])
    assert seen == [("begin", 0), ("end", 2), ("begin", 3), ("end", 5), ("begin", 6), ("end", 7)]


def test_checkpoints_saved_per_epoch_do_not_sync_every_step(tmp_path, monkeypatch):
    """ModelCheckpoint and BackupAndRestore with save_freq="epoch" define a batch hook but need no batch
    logs: the program must not wait for every step's loss because of them (GPU-REVIEW A5); with an
    integer save_freq they do get batch logs."""
    x, y = _data(40, inputs=13, classes=5)
    built = _used_program(monkeypatch)
    cbs = [gpunet.callbacks.ModelCheckpoint(str(tmp_path / "m.keras")),
           gpunet.callbacks.BackupAndRestore(str(tmp_path / "b"))]
    _fit("emulate", _small(), lambda: "adam", x, y, batch_size=8, epochs=2, callbacks=cbs)
    assert built[-1].follow_callbacks is False and (tmp_path / "m.keras").exists()
    _fit("emulate", _small(), lambda: "adam", x, y, batch_size=8, epochs=1,
         callbacks=[gpunet.callbacks.ModelCheckpoint(str(tmp_path / "n.keras"), save_freq=2)])
    assert built[-1].follow_callbacks is True


def _functional(branch=False, shared=False):
    def make():
        inp = gpunet.Input((13,))
        d = gpunet.layers.Dense(9, activation="relu")
        h = d(inp)
        if shared:
            h = gpunet.layers.Dense(13)(h)
            h = d(h)  # the same layer twice: its gradients add up, which the compiled steps do not do
        h = gpunet.layers.Dropout(0.25)(h)
        if branch:
            h = gpunet.layers.Add()([h, gpunet.layers.Dense(9)(inp)])
        return gpunet.Model(inp, gpunet.layers.Dense(5, activation="softmax")(h))
    return make


def test_a_functional_chain_runs_the_compiled_steps(monkeypatch):
    """Keras's `Model(inputs, outputs)` MLP is one chain of layer calls: the NumPy step plan and the launch
    program run it and equal the tape; a branch or a shared layer sends it to the tape."""
    from gpunet.training import cpu_step
    x, y = _data(61, inputs=13, classes=5, seed=9)
    built, plans = _used_program(monkeypatch), []
    real = cpu_step.StepPlan.build
    monkeypatch.setattr(cpu_step.StepPlan, "build", staticmethod(lambda *a: plans.append(real(*a)) or plans[-1]))
    opt = lambda: gpunet.optimizers.Adam(0.01)  # noqa: E731
    got = _fit("emulate", _functional(), opt, x, y, batch_size=8, epochs=2, validation_split=0.2)
    want = _fit("numpy", _functional(), opt, x, y, batch_size=8, epochs=2, validation_split=0.2)
    tape = _fit("numpy", _functional(), opt, x, y, batch_size=8, epochs=2, validation_split=0.2,
                compile_kw={"run_eagerly": True})
    assert isinstance(built[0], gpu_step.TrainProgram) and isinstance(plans[-1], cpu_step.StepPlan)
    _same(got, want)
    _same(want, tape)
    with in_tier("emulate"):
        before = emulated.launch_counts["rows_out"]
        np.testing.assert_allclose(got[2].predict(x, verbose=0), want[2].predict(x, verbose=0), rtol=1e-5, atol=1e-7)
        assert emulated.launch_counts["rows_out"] > before
    for make in (_functional(branch=True), _functional(shared=True)):
        _fit("emulate", make, opt, x, y, batch_size=8, epochs=1)
        _fit("numpy", make, opt, x, y, batch_size=8, epochs=1)
        assert built[-1] is None and plans[-1] is None


def test_3d_outputs_with_accuracy_on_the_numpy_step_plan():
    """(batch, steps, classes) outputs with (batch, steps) labels: the compiled CPU step counts accuracy over
    every position, as the tape and Keras do (it raised before: GPU-REVIEW A12)."""
    rng = np.random.default_rng(0)
    x = rng.random((20, 4, 6)).astype("float32")
    y = rng.integers(0, 3, (20, 4))
    make = lambda: gpunet.Sequential([gpunet.Input((4, 6)), gpunet.layers.Dense(3, activation="softmax")])  # noqa: E731
    for metrics in (("accuracy",), ("accuracy", "sparse_top_k_categorical_accuracy")):
        loss = "sparse_categorical_crossentropy"
        got = _fit("numpy", make, lambda: "adam", x, y, metrics=metrics, batch_size=6, epochs=2,
                   compile_kw={"loss": loss})
        want = _fit("numpy", make, lambda: "adam", x, y, metrics=metrics, batch_size=6, epochs=2,
                    compile_kw={"loss": loss, "run_eagerly": True})
        _same(got, want)


@pytest.mark.parametrize("from_logits", [True, False])
def test_an_option_of_the_loss_the_fused_op_lacks_is_not_dropped(from_logits):
    """ignore_class is not implemented: fit says so on every path, never trains without it."""
    x, y = _data(20, inputs=6, classes=3)
    with in_tier("numpy"):
        m = gpunet.Sequential([gpunet.Input((6,)), gpunet.layers.Dense(3, activation=None if from_logits else "softmax")])
        m.compile(optimizer="adam", loss=gpunet.losses.SparseCategoricalCrossentropy(from_logits=from_logits,
                                                                                     ignore_class=1))
        with pytest.raises(NotImplementedError, match="ignore_class"):
            m.fit(x, y, epochs=1, verbose=0)


# ---- the CuPy-only code (stream, pool, capture, replay, readback) on a CuPy stand-in (tests/cupy_standin.py) ----

def _standin_fit(monkeypatch, n, graphs="1", spe=1, epochs=2, callbacks=(), validation=False):
    import cupy_standin
    monkeypatch.setenv("GPUNET_CUDA_GRAPHS", graphs)
    built = _used_program(monkeypatch)
    x, y = _data(n, inputs=13, classes=5, seed=10)
    with cupy_standin.installed(monkeypatch) as counters:
        gpunet.utils.clear_session()
        gpunet.utils.set_random_seed(7)
        m = _small()()
        m.compile(optimizer=gpunet.optimizers.Adam(gpunet.optimizers.schedules.ExponentialDecay(0.01, 5, 0.9)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"], steps_per_execution=spe)
        h = m.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=list(callbacks),
                  validation_split=0.25 if validation else 0.0)
        weights = [np.array(w) for w in m.get_weights()]
    monkeypatch.undo()
    return weights, h.history, built[-1], counters


def test_captured_graphs_replay_the_program_with_no_sync_inside_an_epoch(monkeypatch, caplog):
    """On the stand-in the step is captured (kernels recorded, not run; a sync or a copy inside would raise
    and log a fallback), replayed once per step, and gives exactly the uncaptured program's weights. Host
    syncs are per epoch: the same number for 4 and for 12 steps an epoch."""
    w_graph, h_graph, prog, c = _standin_fit(monkeypatch, 93)  # 12 steps, the last of 5 rows
    assert "capture failed" not in caplog.text
    assert prog.runner.capture and set(prog.runner.graphs) == {1}
    assert c.captures == 1 and c.replays == 2 * 12 - 2  # two warm-up steps, then one replay per step
    assert c.pool_blocks >= len(prog.arena.buffers)  # every buffer from the private pool
    w_eager, h_eager, prog2, c2 = _standin_fit(monkeypatch, 93, graphs="0")
    assert not prog2.runner.graphs and c2.replays == 0
    for a, b in zip(w_graph, w_eager):
        np.testing.assert_array_equal(a, b)
    assert h_graph == h_eager
    w_emul = _fit("emulate", _small(), lambda: gpunet.optimizers.Adam(
        gpunet.optimizers.schedules.ExponentialDecay(0.01, 5, 0.9)), *_data(93, inputs=13, classes=5, seed=10),
        batch_size=8, epochs=2)[0]
    for a, b in zip(w_graph, w_emul):
        np.testing.assert_array_equal(a, b)
    short = _standin_fit(monkeypatch, 32)[3]  # 4 steps an epoch
    # one host wait at build, one per epoch (its sums), one when fit ends, then get_weights' reads: none per step
    assert short.syncs == c.syncs == 1 + 2 + 1 + len(w_graph), (short.syncs, c.syncs)
    assert c.pageable_uploads == 0  # every upload from page-locked memory: no hidden sync either


def test_steps_per_execution_graphs_and_validation_on_the_standin(monkeypatch):
    """N steps per graph (and a graph of the remainder), fit's validation through its own forward program,
    the same weights as one step per graph."""
    w3, h3, prog, c = _standin_fit(monkeypatch, 93, spe=5, validation=True)  # 70 rows: 9 steps, 5 + 4
    assert set(prog.runner.graphs) == {5, 4}
    w1, h1, _, _ = _standin_fit(monkeypatch, 93, validation=True)
    for a, b in zip(w3, w1):
        np.testing.assert_array_equal(a, b)
    assert h3 == h1 and "val_loss" in h3


def test_batch_callbacks_get_exact_logs_and_a_sync_each(monkeypatch):
    seen = []

    class Rec(gpunet.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(logs["loss"])

    _, h, prog, c = _standin_fit(monkeypatch, 93, epochs=1, callbacks=[Rec()])
    assert prog.follow_callbacks and len(seen) == 12
    assert seen[-1] == pytest.approx(h["loss"][0], rel=1e-6)
    assert c.syncs >= 12


def test_a_step_that_syncs_cannot_be_captured_and_runs_uncaptured_with_one_warning(monkeypatch, caplog):
    """CuPy refuses a sync inside a capture; the runner says so once and runs the same launches uncaptured."""
    import cupy_standin
    monkeypatch.setenv("GPUNET_CUDA_GRAPHS", "1")
    ran = []

    def syncing_launch():
        cupy_standin.Device().synchronize()  # raises while capturing: that attempt runs nothing
        ran.append(1)

    with cupy_standin.installed(monkeypatch):
        runner = gpu_runner.Runner([syncing_launch], capture=True)
        with caplog.at_level("WARNING", logger="gpunet"):
            for _ in range(4):
                runner.run(1)
    assert len(ran) == 4 and not runner.graphs and not runner.capture
    assert caplog.text.count("CUDA graph capture failed") == 1 and "capturing" in caplog.text


@pytest.mark.parametrize("opt", [
    lambda: gpunet.optimizers.Adam(3e-3, weight_decay=0.01, use_ema=True, ema_overwrite_frequency=7,
                                   gradient_accumulation_steps=3, loss_scale_factor=4.0),
    lambda: gpunet.optimizers.AdamW(gpunet.optimizers.schedules.CosineDecay(0.02, 300)),
    lambda: gpunet.optimizers.SGD(0.1, momentum=0.9)], ids=["adam_everything", "adamw_schedule", "sgd"])
def test_the_epoch_table_is_what_the_eager_optimizer_computes(opt):
    """The per-step scalars come from array arithmetic; step by step the eager optimizer's own scalar
    formulas (_lr_at, _alpha, Keras's EMA and accumulation counts) give the same float32 values."""
    o = opt()
    prog = gpu_step.TrainProgram.__new__(gpu_step.TrainProgram)
    prog.opt, prog.n, prog.batch, prog.steps, prog._host0 = o, 1000, 32, 32, 1234  # 31 batches of 32, one of 8
    for first in (0, 17):
        table = prog._table(first)
        for i, t in enumerate(range(first, prog.steps)):
            s = prog._host0 + t
            n_acc = o.gradient_accumulation_steps or 1
            u = s // n_acc
            lr = o._lr_at(s)
            want = [o._alpha(lr, u + 1) if isinstance(o, gpunet.optimizers.Adam) else lr,
                    (o.weight_decay or 0.0) * lr,
                    np.float32(1.0 / (8 if t == 31 else 32)) * np.float32(o.loss_scale_factor or 1.0),
                    o.ema_momentum if u else 0.0,
                    bool(o.ema_overwrite_frequency and (u + 1) % o.ema_overwrite_frequency == 0),
                    (s + 1) % n_acc == 0]
            np.testing.assert_array_equal(table[i], np.array(want, dtype=np.float32), err_msg=str(t))


def test_labels_checked_on_the_host_are_not_read_back_per_batch(monkeypatch):
    """fit, evaluate, train_on_batch and test_on_batch check labels once on the host; on their tape path
    (sample weights here) the kernels then skip the per-batch readback of their range flag (A4), and the
    setting is restored afterwards."""
    from gpunet.kernels import softmax_xent
    seen = []
    real = softmax_xent.softmax_xent_forward
    monkeypatch.setattr(softmax_xent, "softmax_xent_forward",
                        lambda *a: seen.append(softmax_xent.CHECK_LABELS) or real(*a))
    x, y = _data(20, inputs=13, classes=5)
    sw = np.ones(20, np.float32)
    with in_tier("emulate"):
        m = _small()()
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        m.fit(x, y, sample_weight=sw, batch_size=8, verbose=0)
        m.evaluate(x, y, sample_weight=sw, batch_size=8, verbose=0)
        m.train_on_batch(x, y, sample_weight=sw)
        m.test_on_batch(x, y, sample_weight=sw)
        with pytest.raises(ValueError, match="outside|label"):
            m.evaluate(x, np.full(20, 7), verbose=0)  # still refused: on the host, before any kernel
    assert len(seen) >= 4 and not any(seen)
    assert softmax_xent.CHECK_LABELS is True


class _ReadsWeightsAtBatchBegin(gpunet.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_begin(self, batch, logs=None):
        self.seen.append(self.model.get_weights()[0].copy())


def test_batch_begin_hooks_see_every_step_queued_before_them(monkeypatch):
    """L1: the program's stream is non-blocking and the hooks run on the legacy stream, which does not wait for
    it. On the stand-in (asynchronous streams, as CUDA) a hook read stale weights until the legacy stream was
    made to wait on the program's event; it must see exactly what the synchronous emulated tier sees."""
    cb = _ReadsWeightsAtBatchBegin()
    _, _, prog, c = _standin_fit(monkeypatch, 93, epochs=1, callbacks=[cb])
    assert prog is not None and prog.runner.graphs and len(cb.seen) == 12
    ref = _ReadsWeightsAtBatchBegin()
    _fit("emulate", _small(), lambda: gpunet.optimizers.Adam(
        gpunet.optimizers.schedules.ExponentialDecay(0.01, 5, 0.9)), *_data(93, inputs=13, classes=5, seed=10),
        batch_size=8, epochs=1, callbacks=[ref])
    for t, (a, b) in enumerate(zip(cb.seen, ref.seen)):
        np.testing.assert_array_equal(a, b, err_msg="batch %d" % t)


class _WarmUp(gpunet.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = 0.002 * (batch + 1)


def test_a_rate_set_every_batch_uploads_its_rows_from_pinned_memory(monkeypatch):
    """L2: a warm-up that sets the rate each batch re-uploaded the rest of the epoch's table every step, from
    pageable memory (a hidden host sync each time on a GPU, O(steps) host work per step). Now: the next rows
    only, from the page-locked mirror, no sync; the same weights as the synchronous emulated tier."""
    rows = []
    real = gpu_step.TrainProgram._table

    def counting(self, first, last=None):
        out = real(self, first, last)
        rows.append(len(out))
        return out
    monkeypatch.setattr(gpu_step.TrainProgram, "_table", counting)
    w, h, prog, c = _standin_fit(monkeypatch, 93, epochs=2, callbacks=[_WarmUp()])
    assert prog.runner.graphs and c.pageable_uploads == 0
    assert sum(rows) <= 2 * (12 + 12), rows  # per epoch: the table once, then one row per step
    _, _, _, quiet = _standin_fit(monkeypatch, 93, epochs=2)
    assert c.syncs == quiet.syncs  # no sync per step
    w_emul = _fit("emulate", _small(), lambda: gpunet.optimizers.Adam(
        gpunet.optimizers.schedules.ExponentialDecay(0.01, 5, 0.9)), *_data(93, inputs=13, classes=5, seed=10),
        batch_size=8, epochs=2, callbacks=[_WarmUp()])[0]
    for a, b in zip(w, w_emul):
        np.testing.assert_array_equal(a, b)


def test_a_rate_set_once_mid_epoch_is_uploaded_for_the_rest_of_the_epoch_once(monkeypatch):
    """After one replay at the new rate, the rest of the epoch's rows go up once (and are right)."""
    class Once(gpunet.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 3:
                self.model.optimizer.learning_rate = 0.003
    w, _, prog, c = _standin_fit(monkeypatch, 93, epochs=1, callbacks=[Once()])
    np.testing.assert_array_equal(prog.table[4:12].get(), prog._table(4, 12))  # on the device: the new rate's rows
    w_emul = _fit("emulate", _small(), lambda: gpunet.optimizers.Adam(
        gpunet.optimizers.schedules.ExponentialDecay(0.01, 5, 0.9)), *_data(93, inputs=13, classes=5, seed=10),
        batch_size=8, epochs=1, callbacks=[Once()])[0]
    for a, b in zip(w, w_emul):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("variant", ["tile", "splitk", "auto"])
def test_every_dense_variant_trains_like_the_numpy_step_plan(monkeypatch, variant):
    """The switch GPUNET_DENSE_VARIANT picks kernels, never results: each variant's program (split-K of the
    100-wide input, the fused head, or neither) ends where the NumPy step plan does."""
    monkeypatch.setenv("GPUNET_DENSE_VARIANT", variant)
    built = _used_program(monkeypatch)
    data = _data(90, inputs=100, classes=7, seed=4)
    make = lambda: _mlp(hidden=70, inputs=100, classes=7, dropout=0.2)  # noqa: E731
    got = _fit("emulate", make, lambda: gpunet.optimizers.Adam(0.01), *data, batch_size=16, epochs=2)
    prog = built[-1]
    assert prog is not None and (prog.head is None) == (variant == "tile")
    names = {launch.name for launch in prog.launches}
    assert ("dense_forward_partial" in names) == (variant != "tile")
    # split-K sums the 100 inputs in another order, and the NumPy plan's BLAS in its own (OpenBLAS builds differ:
    # numpy 2.4.6's leaves one of the 7000 tile-variant weights 6.7e-6 off): Adam's sign-like steps can carry that
    # round-off to ~1e-5
    _same(got, _fit("numpy", make, lambda: gpunet.optimizers.Adam(0.01), *data, batch_size=16, epochs=2),
          atol=2e-5)


def test_the_fused_head_changes_no_bit_of_the_step(monkeypatch):
    """With split-K off, the default rule differs from the tile kernels only by the fused head, which computes
    the same numbers the same way (emulated: no contraction): the same weights and logs bit for bit."""
    from gpunet.kernels import dense as dense_k
    monkeypatch.setattr(dense_k, "splitk_parts", lambda tiles, inner, **k: (1, inner))
    built = _used_program(monkeypatch)
    runs = {}
    for variant in ("auto", "tile"):
        monkeypatch.setenv("GPUNET_DENSE_VARIANT", variant)
        runs[variant] = _fit("emulate", _small(), lambda: gpunet.optimizers.Adam(0.01),
                             *_data(93, inputs=13, classes=5, seed=10), batch_size=8, epochs=2,
                             validation_split=0.2)
        assert (built[-1].head is not None) == (variant == "auto")
    for a, b in zip(runs["auto"][0], runs["tile"][0]):
        np.testing.assert_array_equal(a, b)
    assert runs["auto"][1] == runs["tile"][1]
