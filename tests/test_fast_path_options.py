"""The rule for fit's compiled CPU step (training/cpu_step.py): it honours every compile and
optimizer option or it is not used. Each case runs the same script through the compiled step and
through the general tape path (run_eagerly=True), checks the compiled step really ran, and compares
the weights, the optimizer's variables and the logs."""
import numpy as np
import pytest

import gpunet
from gpunet import layers, optimizers
from gpunet.training import cpu_step
from gpunet.optimizers import schedules

R = np.random.default_rng(5)
X = R.random((200, 7)).astype("float32")
YI = R.integers(0, 3, 200)

OPTIONS = {
    "plain": lambda: optimizers.Adam(0.01),
    "clipnorm": lambda: optimizers.Adam(0.01, clipnorm=0.05),
    "clipvalue": lambda: optimizers.SGD(0.1, clipvalue=0.01),
    "global_clipnorm": lambda: optimizers.RMSprop(0.01, global_clipnorm=0.1),
    "weight_decay": lambda: optimizers.AdamW(0.01, weight_decay=0.05),
    "ema": lambda: optimizers.Adam(0.01, use_ema=True, ema_momentum=0.9),
    "ema_overwrite": lambda: optimizers.SGD(0.1, momentum=0.9, use_ema=True, ema_overwrite_frequency=3),
    "accumulation": lambda: optimizers.Adam(0.01, gradient_accumulation_steps=3),
    "loss_scale": lambda: optimizers.Adam(0.01, loss_scale_factor=128.0),
    "schedule": lambda: optimizers.SGD(schedules.ExponentialDecay(0.5, 4, 0.5), momentum=0.5, nesterov=True),
    "everything": lambda: optimizers.Adam(schedules.CosineDecay(0.02, 30), weight_decay=0.01, clipnorm=0.2,
                                          use_ema=True, gradient_accumulation_steps=2, loss_scale_factor=4.0),
    "amsgrad": lambda: optimizers.Adam(0.01, amsgrad=True),
    "centered": lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "nadam": lambda: optimizers.Nadam(0.01, clipvalue=0.05),
    "lion": lambda: optimizers.Lion(0.001, use_ema=True),
    "lamb": lambda: optimizers.Lamb(0.01, clipvalue=0.1),  # a per-variable trust ratio on the flat buffer
    "ftrl": lambda: optimizers.Ftrl(0.1, l1_regularization_strength=0.001, gradient_accumulation_steps=2),
}
LOSSES = {
    "sparse": ("sparse_categorical_crossentropy", lambda: YI, ["accuracy"]),
    "categorical": ("categorical_crossentropy", lambda: np.eye(3, dtype="float32")[YI],
                    ["accuracy", "top_k_categorical_accuracy"]),
    "smoothed": (lambda: gpunet.losses.CategoricalCrossentropy(label_smoothing=0.2),
                 lambda: np.eye(3, dtype="float32")[YI], ["categorical_accuracy", "mse"]),
}


def _run(make_opt, loss, y, metrics, eager, monkeypatch):
    used = []
    real = cpu_step.StepPlan.train_step
    monkeypatch.setattr(cpu_step.StepPlan, "train_step", lambda self, xb, yb: (used.append(1), real(self, xb, yb)))
    gpunet.utils.clear_session()
    gpunet.utils.set_random_seed(3)
    m = gpunet.Sequential([gpunet.Input((7,)), layers.Dense(9, activation="relu"), layers.Dropout(0.2),
                           layers.Dense(3, activation="softmax")])
    m.compile(optimizer=make_opt(), loss=loss() if callable(loss) else loss, metrics=metrics, run_eagerly=eager)
    h = m.fit(X, y, epochs=2, batch_size=32, verbose=0)
    return m, h.history, bool(used)


# every option with one loss; every loss/metric combination with no option and with all of them
CASES = [(o, "sparse") for o in sorted(OPTIONS)] + [(o, l) for l in sorted(LOSSES) if l != "sparse"
                                                    for o in ("plain", "everything")]


@pytest.mark.parametrize("option,loss", CASES)
def test_compiled_step_equals_general_path(option, loss, monkeypatch):
    lname, ymake, metrics = LOSSES[loss]
    fast, hf, used_fast = _run(OPTIONS[option], lname, ymake(), metrics, False, monkeypatch)
    slow, hs, used_slow = _run(OPTIONS[option], lname, ymake(), metrics, True, monkeypatch)
    assert used_fast and not used_slow  # two different paths were compared
    for a, b in zip(fast.get_weights(), slow.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
    for a, b in zip(fast.optimizer.variables, slow.optimizer.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=1e-6)
    assert hf.keys() == hs.keys()
    for k in hf:
        np.testing.assert_allclose(hf[k], hs[k], rtol=1e-5)


def test_options_change_the_result():
    """The cases above would pass vacuously if an option did nothing: each changes the weights."""
    base = None
    for name in ("plain", "clipnorm", "ema", "accumulation", "loss_scale"):
        gpunet.utils.clear_session()
        gpunet.utils.set_random_seed(3)
        m = gpunet.Sequential([gpunet.Input((7,)), layers.Dense(3, activation="softmax")])
        m.compile(optimizer=OPTIONS[name](), loss="sparse_categorical_crossentropy")
        m.fit(X, YI, epochs=1, batch_size=32, verbose=0, shuffle=False)
        w = m.get_weights()[0]
        if base is None:
            base = w
        elif name == "loss_scale":  # scaling then unscaling: the same step up to rounding
            np.testing.assert_allclose(w, base, rtol=1e-4, atol=1e-6)
        else:
            assert not np.allclose(w, base, atol=1e-6), name


@pytest.mark.parametrize("option", ["everything", "ema_overwrite", "global_clipnorm"])
def test_kernel_tiers_honour_every_option(option, kernel_tier):
    """The GPU path (fused optimizer kernels, in the emulated tier on CPUs) trains with the options as
    the NumPy reference does: the options wrap the fused update, they are not skipped."""
    from conftest import in_tier

    def run():
        gpunet.utils.clear_session()
        gpunet.utils.set_random_seed(3)
        m = gpunet.Sequential([gpunet.Input((7,)), layers.Dense(9, activation="relu"),
                               layers.Dense(3, activation="softmax")])
        m.compile(optimizer=OPTIONS[option](), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        h = m.fit(X, YI, epochs=2, batch_size=32, verbose=0)
        return m.get_weights(), h.history
    before = kernel_tier.launches()
    got = run()
    # the launch program (its step_begin) clips, accumulates and averages on the device
    kernel_tier.assert_launched(before, "step_begin", *{
        "everything": ["adam_update_ctl", "grad_sumsq", "grad_clip", "grad_accumulate_ctl", "ema_update_ctl"],
        "ema_overwrite": ["sgd_update_ctl", "ema_update_ctl"],
        "global_clipnorm": ["rmsprop_update_ctl", "grad_sumsq", "grad_clip"]}[option])
    with in_tier("numpy"):
        want = run()
    for a, b in zip(got[0], want[0]):
        np.testing.assert_allclose(kernel_tier.host(a), b, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(got[1]["loss"], want[1]["loss"], rtol=1e-4)


def test_the_compiled_step_stays_chosen_after_metrics_are_read(monkeypatch):
    """Reading model.metrics (callbacks do) must not send later fits to the per-batch Keras loop."""
    used = []
    real = cpu_step.StepPlan.train_step
    monkeypatch.setattr(cpu_step.StepPlan, "train_step", lambda self, xb, yb: (used.append(1), real(self, xb, yb)))
    m = gpunet.Sequential([gpunet.Input((7,)), layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(X, YI, epochs=1, verbose=0, callbacks=[gpunet.callbacks.EarlyStopping(monitor="accuracy")])
    assert [x.name for x in m.metrics] == ["loss", "compile_metrics"]
    n = len(used)
    m.fit(X, YI, epochs=1, verbose=0)
    assert n > 0 and len(used) == 2 * n
