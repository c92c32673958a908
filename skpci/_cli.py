"""The ``skpci`` command line."""

import argparse
import contextlib
import os
import sys


def _parser():
    parser = argparse.ArgumentParser(
        prog="skpci",
        description="Paired cell inpainting: self-supervised features for single-cell microscopy.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="segment built-in synthetic fields, featurize, and print a per-layer benchmark",
        description="Segment synthetic fields (7 localization classes), extract paired cell "
                    "inpainting features with the bundled model (or train one), and print "
                    "cross-validated kNN accuracy per layer, against the untrained network and "
                    "a brightness baseline.",
        epilog="examples:\n  skpci demo\n  skpci demo --epochs 4 --images 28",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--epochs", type=int, default=0,
                      help="train from scratch for this many epochs (default: 0, use the bundled model)")
    demo.add_argument("--images", type=int, default=42, help="synthetic fields (default: 42)")
    demo.add_argument("--input-size", type=int, default=32,
                      help="network input size when training (default: 32)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--output", default="skpci-demo-output",
                      help="folder for the figures (default: ./skpci-demo-output)")
    demo.add_argument("--no-figures", action="store_true", help="do not draw figures")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


@contextlib.contextmanager
def _native_stderr_silenced():
    """Hide what native libraries print to file descriptor 2 (TensorFlow's start-up log).

    TensorFlow's C++ logging writes before ``TF_CPP_MIN_LOG_LEVEL`` takes
    effect, so the command line imports the backend with fd 2 pointed at
    /dev/null. Python-level errors are unaffected: they are raised later.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr (e.g. some embedded interpreters)
        yield
        return
    with open(os.devnull, "w") as devnull:
        sys.stderr.flush()
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _import_backend():
    with _native_stderr_silenced():
        import keras

        keras.ops.zeros(1)  # the first op initializes devices, which logs too


def main(argv=None):
    """Entry point of the ``skpci`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    # Quiet TensorFlow's start-up chatter; an application may set this, a library may not.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        _import_backend()
        if args.command == "demo":
            from ._demo import run_demo

            run_demo(n_images=args.images, epochs=args.epochs, input_size=args.input_size,
                     random_state=args.seed, verbose=0 if args.quiet else 1,
                     output=None if args.no_figures else args.output)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError) as error:
        if args.debug:
            raise
        print(f"skpci: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
