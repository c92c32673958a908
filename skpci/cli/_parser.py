"""The ``skpci`` command line: arguments, exit codes, errors without tracebacks."""

import argparse
import contextlib
import os
import sys

CHANNELS_HELP = ("data channels, comma-separated: a crop folder's file suffixes, or a store's channel names. "
                 "Listing the model's channel names (any order) matches them by name; other names are fed to "
                 "the model's channels in its order (e.g. F,R for a gfp,rfp model). Default: the model's names")


def _parser():
    parser = argparse.ArgumentParser(
        prog="skpci",
        description="Paired cell inpainting: self-supervised features for single-cell microscopy.",
        epilog="exit codes: 0 success, 1 error (message on stderr; --debug shows the traceback), "
               "2 bad arguments, 130 interrupted",
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

    segment = commands.add_parser(
        "segment", help="segment folders of whole fields into a crop store (resumable)",
        description="Find nuclei in whole fields stored one file per channel (<field>_<channel>.tif), "
                    "crop a square around each cell and append them to an HDF5 crop store. Rerun the "
                    "same command after a crash or Ctrl-C: finished fields are skipped.",
        epilog="examples:\n  skpci segment hpa_images -o hpa_store --channels blue,green,red,yellow "
               "--nuclear blue --recursive --label-from folder --jobs 8\n"
               "  skpci segment ExampleFly/images -o fly_store --channels D,F,R --nuclear D "
               "--pattern '_(?P<channel>[DFR])$' --scale 1 --crop-size 64",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    segment.add_argument("fields", help="folder of fields, one file per channel, or of OME-TIFF / OME-Zarr fields "
                                        "(channels named in their metadata); or a CellProfiler LoadData CSV "
                                        "(FileName_<channel>/PathName_<channel> columns)")
    segment.add_argument("-o", "--output", required=True, help="crop store folder (created or resumed)")
    segment.add_argument("--channels", help="channel names in order, comma-separated (a LoadData CSV or OME fields: "
                                            "default the channels they name)")
    segment.add_argument("--nuclear", required=True, help="name of the nuclear-stain channel")
    segment.add_argument("--pattern", default=r"_(?P<channel>[^_]+)$",
                         help="regex on file stems; group 'channel' names the channel (default: <field>_<channel>)")
    segment.add_argument("--recursive", action="store_true", help="search sub-folders too")
    segment.add_argument("--label-from", choices=("none", "folder"), default="none",
                         help="record each field's folder name as its label (default: none)")
    segment.add_argument("--group-by", choices=("field", "folder"), default="field",
                         help="pair cells within a field or within its folder (default: field)")
    segment.add_argument("--nucleus-diameter", type=float, default=None,
                         help="typical nucleus diameter in pixels of the fields (default: estimated from them)")
    segment.add_argument("--scale", type=_auto(float), default="auto",
                         help="downsampling first; auto brings nuclei to about 36 px, as the authors' HPA crops "
                              "(default: auto)")
    segment.add_argument("--crop-size", type=_auto(int), default="auto",
                         help="crop side after scaling; auto is 3.5 nucleus diameters (default: auto)")
    segment.add_argument("--min-area", type=int, default=None,
                         help="smallest nucleus, in scaled pixels (default: from the nucleus diameter)")
    segment.add_argument("--method", choices=("watershed", "otsu"), default="watershed",
                         help="split touching nuclei (watershed) or not (otsu, the authors' recipe)")
    segment.add_argument("--skip-bad-fields", action="store_true",
                         help="go on past fields that cannot be read or segmented (recorded in the store's "
                              "skipped.json and retried by the next run) instead of stopping at the first")
    segment.add_argument("--jobs", type=int, default=None, help="parallel workers (fields at a time)")
    segment.add_argument("--quiet", action="store_true", help="no progress bars")

    crops_help = ("a crop store (from skpci segment), or a folder of crops "
                  "<folder>/<image>_<cell>_<channel>.tif (as the authors' toy sets)")
    fit = commands.add_parser(
        "fit", help="train on a crop folder and write a model directory",
        description="Train paired cell inpainting on single-cell crops; cells are paired within "
                    "their folder (a strain or well) or image.",
        epilog="example:\n  skpci fit yeast_toy -o yeast-model --channels gfp,rfp --protein gfp "
               "--markers rfp --epochs 30\n  (Ctrl-C stops after the current batch, writes the model of the last "
               "completed epoch and exits with 130;\n  with --checkpoint-dir the same command with --overwrite "
               "resumes)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument("crops", help=crops_help)
    fit.add_argument("-o", "--output", required=True, help="model directory to write (a new path)")
    fit.add_argument("--overwrite", action="store_true",
                     help="replace the model directory at --output (nothing else is ever replaced)")
    fit.add_argument("--channels", help="a crop folder's channel file suffixes, comma-separated, e.g. gfp,rfp "
                                        "(a store names its own channels; --protein and --markers pick among them)")
    fit.add_argument("--protein", required=True, help="protein channel name(s), comma-separated")
    fit.add_argument("--markers", required=True, help="marker channel name(s), comma-separated")
    fit.add_argument("--group-by", choices=("folder", "image"), default="folder",
                     help="pair cells within a folder or within an image (default: folder)")
    fit.add_argument("--input-size", type=int, default=64)
    fit.add_argument("--epochs", type=int, default=30)
    fit.add_argument("--batch-size", type=int, default=64)
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--min-group-size", type=int, default=2,
                     help="leave out groups (images) with fewer cells; the authors used 5 for the HPA (default: 2)")
    fit.add_argument("--rotations", action=argparse.BooleanOptionalAction, default=None,
                     help="augment with 90-degree rotations besides flips (default: the featurizer's)")
    fit.add_argument("--protein-jitter", type=float, default=None, metavar="J",
                     help="scale each source crop's protein by a random factor in [1-J, 1] (default: the featurizer's)")
    fit.add_argument("--mask-neighbours", action=argparse.BooleanOptionalAction, default=None,
                     help="keep only the central cell, outlined by --mask-marker (default: the first marker), in "
                          "training and features (default: the featurizer's)")
    fit.add_argument("--mask-marker", default=None, metavar="NAME",
                     help="the marker that outlines the central cell, one of --markers; it must show whole cells "
                          "(cytosol, membrane, ER), not only nuclei. Implies --mask-neighbours "
                          "(default: the first marker)")
    fit.add_argument("--checkpoint-dir", help="save a checkpoint each epoch here; rerun to resume")
    fit.add_argument("--from-pretrained", help="start from these weights (name or path) and fine-tune")
    fit.add_argument("--devices", default=None,
                     help="'all' (or a number) to train data-parallel on several GPUs (default: one device)")
    fit.add_argument("--jobs", type=int, default=None, help="parallel workers for reading and preprocessing")
    fit.add_argument("--quiet", action="store_true", help="no progress bars")

    features = commands.add_parser(
        "features", help="write features of every cell (or per image) of a crop folder",
        description="Extract paired cell inpainting features with a trained or bundled model.",
        epilog="examples:\n  skpci features yeast_toy --model yeast-model -o features.csv\n"
               "  skpci features yeast_toy --model yeast-model --layer conv3_1,conv4_1 --per image -o images.parquet",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    features.add_argument("crops", help=crops_help)
    features.add_argument("--model", required=True, help="model directory or registered name")
    features.add_argument("-o", "--output", required=True,
                          help="table (.csv, .parquet) or AnnData file (.h5ad) to write; for a store also "
                               "'store' (into the store)")
    features.add_argument("--layer", default="conv3_1", help="layer(s), comma-separated (default: conv3_1)")
    features.add_argument("--pooling", choices=("max", "mean", "meanmax"), default=None,
                          help="pooling over space of each layer (default: the featurizer's)")
    features.add_argument("--per", choices=("cell", "image", "folder"), default="cell",
                          help="one row per cell, or the mean per image or folder (default: cell; "
                               "a store has cell or image)")
    features.add_argument("--channels", help=CHANNELS_HELP)
    features.add_argument("--style", choices=("skpci", "pycytominer"), default="skpci",
                          help="table columns: skpci's (conv4_1_17), or pycytominer's (Metadata_*, "
                               "Cells_skpci_conv4_1_17) (default: skpci)")
    features.add_argument("--overwrite", action="store_true", help="replace an existing output file (or, with "
                          "-o store, the store's features file of the same layers)")
    features.add_argument("--jobs", type=int, default=None)
    features.add_argument("--quiet", action="store_true")

    benchmark = commands.add_parser(
        "benchmark", help="kNN benchmark of a model's layers against baselines on labelled crops",
        description="Cross-validated kNN classification of the crops' folder (or image) labels, "
                    "per layer, next to hand-crafted and brightness baselines.",
        epilog="example:\n  skpci benchmark yeast_toy --model yeast-model --folds image",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    benchmark.add_argument("crops", help=crops_help)
    benchmark.add_argument("--model", required=True, help="model directory or registered name")
    benchmark.add_argument("--channels", help=CHANNELS_HELP)
    benchmark.add_argument("--labels", choices=("folder", "image"), default="folder")
    benchmark.add_argument("--folds", choices=("image", "folder"), default="image",
                           help="cells of one image (or folder) never split across folds")
    benchmark.add_argument("--jobs", type=int, default=None)

    export = commands.add_parser(
        "export-bioimageio", help="export a model directory as a bioimage.io model package (validated)",
        description="Write a bioimage.io model package (spec 0.5: rdf.yaml, keras_v3 weights, test tensors, "
                    "README and cover) from a model directory, validated with bioimageio.spec before it is "
                    "written. from_pretrained and --model read such a package back.",
        epilog="example:\n  skpci export-bioimageio yeast-model -o yeast-model.zip --author 'Ada Lovelace'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("model", help="model directory (or registered name)")
    export.add_argument("-o", "--output", required=True, help="package folder, or a .zip file")
    export.add_argument("--author", action="append", required=True, help="author name (repeat for several)")
    export.add_argument("--name", help="model name (default: from the model card)")
    export.add_argument("--license", default="CC-BY-4.0", help="SPDX licence of the weights (default: CC-BY-4.0)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing package")

    download = commands.add_parser(
        "download-hpa", help="download Human Protein Atlas images of a gene list, with localization labels",
        description="Fetch each gene's HPA record and its human cell-line immunofluorescence images, one file "
                    "per stain (DIR/images/<gene>/<image>_<stain>.png), and write DIR/manifest.parquet with "
                    "antibody, cell line, plate/well/field, files, checksums and the HPA's localization "
                    "annotations. Resumable: rerun the same command after a failure or Ctrl-C; finished files "
                    "are skipped and failed ones retried. Exits with 1 when some downloads failed that a rerun may "
                    "fetch (genes the HPA does not know are listed but do not count).",
        epilog="examples:\n  skpci download-hpa proteinlist.txt -o hpa\n"
               "  skpci download-hpa genes.txt -o hpa --cell-lines 'U-2 OS' --channels blue,red,green,yellow\n"
               "  skpci segment hpa/images -o hpa_store --channels blue,red,green --nuclear blue --recursive "
               "--label-from folder --group-by folder",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    download.add_argument("genes", help="gene list: one Ensembl id or gene name per line, or the authors' "
                                        "proteinlist.txt (ENSG<tab>name)")
    download.add_argument("-o", "--output", required=True, help="download folder (created or resumed)")
    download.add_argument("--channels", default="blue,red,green",
                          help="stains, comma-separated, among blue (nucleus), red (microtubules), green (protein), "
                               "yellow (ER) (default: blue,red,green)")
    download.add_argument("--composite", action="store_true",
                          help="fetch the authors' RGB composite (one JPEG per field) instead of separate stains")
    download.add_argument("--cell-lines", help="keep only these cell lines, comma-separated (default: all)")
    download.add_argument("--connections", type=int, default=4, help="requests in flight at once (default: 4)")
    download.add_argument("--rate", type=float, default=4.0,
                          help="at most this many requests start per second; 0 for no limit (default: 4)")
    download.add_argument("--timeout", type=float, default=30,
                          help="seconds a connection or read may wait (default: 30)")
    download.add_argument("--deadline", type=float, default=300,
                          help="seconds one file may take, retries included (default: 300)")
    download.add_argument("--retries", type=int, default=3, help="further tries after server errors (default: 3)")
    download.add_argument("--base-url", default="https://www.proteinatlas.org",
                          help="the HPA site; an archived release such as https://v18.proteinatlas.org reproduces "
                               "the paper's images (default: https://www.proteinatlas.org)")
    download.add_argument("--verify", action="store_true",
                          help="check finished files by checksum (reads them all) instead of by size")
    download.add_argument("--quiet", action="store_true", help="no progress bars")
    for command in commands.choices.values():  # `skpci fit ... --debug` works as well as `skpci --debug fit ...`
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show full tracebacks on errors")
    return parser


def _auto(kind):
    """An argparse type: ``auto`` or a number of ``kind``."""
    def parse(text):
        return "auto" if text == "auto" else kind(text)
    parse.__name__ = f"auto or {kind.__name__}"
    return parse


def _given(**options):
    """The options given on the command line (not None): the rest keep the featurizer's defaults."""
    return {name: value for name, value in options.items() if value is not None}


def _names(text):
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


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
        if args.command == "download-hpa":  # no network to build, so Keras is not imported
            from ._download import download_hpa_command

            return download_hpa_command(
                args.genes, args.output, channels=_names(args.channels), composite=args.composite,
                cell_lines=[name.strip() for name in args.cell_lines.split(",")] if args.cell_lines else None,
                max_connections=args.connections, requests_per_second=args.rate, timeout=args.timeout,
                deadline=args.deadline, retries=args.retries, base_url=args.base_url, verify=args.verify,
                progress=not args.quiet)
        _import_backend()
        if args.command == "demo":
            from ._demo import run_demo

            run_demo(n_images=args.images, epochs=args.epochs, input_size=args.input_size,
                     random_state=args.seed, verbose=0 if args.quiet else 1,
                     output=None if args.no_figures else args.output)
        elif args.command == "segment":
            from ._commands import segment_command

            segment_command(args.fields, args.output, channels=_names(args.channels), nuclear=args.nuclear,
                            pattern=args.pattern, recursive=args.recursive, label_from=args.label_from,
                            group_by=args.group_by, scale=args.scale, crop_size=args.crop_size,
                            min_nucleus_area=args.min_area, nucleus_diameter=args.nucleus_diameter,
                            method=args.method, n_jobs=args.jobs, verbose=0 if args.quiet else 1,
                            on_error="skip" if args.skip_bad_fields else "raise")
        elif args.command == "fit":
            from ._commands import fit_command

            if args.mask_marker and args.mask_neighbours is False:
                raise ValueError("--mask-marker names the marker that outlines the central cell for masking; "
                                 "drop --no-mask-neighbours, or drop --mask-marker.")

            fit_command(args.crops, args.output, channels=_names(args.channels), protein=_names(args.protein),
                        markers=_names(args.markers), group_by=args.group_by, input_size=args.input_size,
                        epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                        checkpoint_dir=args.checkpoint_dir, start_from=args.from_pretrained, n_jobs=args.jobs,
                        devices=int(args.devices) if args.devices and args.devices.isdigit() else args.devices,
                        overwrite=args.overwrite, min_group_size=args.min_group_size,
                        recipe=_given(rotations=args.rotations, protein_jitter=args.protein_jitter,
                                      mask_neighbours=True if args.mask_marker else args.mask_neighbours,
                                      mask_marker=args.mask_marker),
                        verbose=0 if args.quiet else 1)
        elif args.command == "features":
            from ._commands import features_command

            features_command(args.crops, args.model, args.output, layer=args.layer, per=args.per,
                             channels=_names(args.channels), style=args.style, n_jobs=args.jobs,
                             pooling=args.pooling, overwrite=args.overwrite,
                             verbose=0 if args.quiet else 1)
        elif args.command == "export-bioimageio":
            from ..formats import export_bioimageio

            path = export_bioimageio(args.model, args.output, authors=args.author, name=args.name,
                                     license=args.license, overwrite=args.overwrite)
            print(f"bioimage.io package written to {path}")
        elif args.command == "benchmark":
            from ._commands import benchmark_command

            benchmark_command(args.crops, args.model, channels=_names(args.channels), labels=args.labels,
                              folds=args.folds, n_jobs=args.jobs)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, FloatingPointError) as error:
        if args.debug:
            raise
        print(f"skpci: error: {error}", file=sys.stderr)
        return 1
    return 0

