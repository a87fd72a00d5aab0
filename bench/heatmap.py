"""What the heat map costs per photo, on both inference backends.

    python bench/heatmap.py [--model training/default_model/model.keras] [--photos ../shared/data/pets-home] [--count 100]

For `--count` real photos (decoded once, beforehand), in interleaved rounds so both sides see the same machine load:
  plain      prepare + inference of the model without class maps (what served before the heat map)
  with maps  prepare + inference of the same model with its "class_maps" output, maps returned
  overlay    the worker's heat map: the predicted class's map -> PNG overlay for the display copy (classifier.heatmap)
Prints the median ms of each and the extra per photo (median(with maps) - median(plain) + median(overlay)), for Keras
and LiteRT. The model is copied to a temporary folder (with and without class maps, each with a LiteRT export verified
on 16 of the photos); the file given is never changed.
"""
import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def prepare_models(model_path, folder, check):
    """(model without class maps, model with them), each a .keras + card + verified LiteRT export in `folder`."""
    import keras

    from training.architectures import CLASS_MAPS, with_class_maps
    from training.layers import load_model
    from training.litert import export_tflite

    source = load_model(model_path)
    with_maps = with_class_maps(source)
    if CLASS_MAPS not in {layer.name for layer in with_maps.layers}:
        raise SystemExit(f"{model_path} cannot have class maps (no head_relu6 feature map read by 'probabilities').")
    outputs = with_maps.output
    plain = keras.Model(with_maps.input, {k: v for k, v in outputs.items() if k != CLASS_MAPS}, name=with_maps.name)
    paths = []
    for name, model in (("plain", plain), ("maps", with_maps)):
        path = folder / name / "model.keras"
        path.parent.mkdir()
        model.save(path)
        shutil.copy(Path(model_path).with_suffix(".json"), path.with_suffix(".json"))
        export_tflite(path, check)
        paths.append(path)
    return paths


def display_size(size, side=1024):
    scale = min(1.0, side / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "training" / "default_model" / "model.keras"))
    parser.add_argument("--photos", default=str(REPO.parent / "shared" / "data" / "pets-home"))
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args()

    import numpy as np

    from classifier.heatmap import heatmap_png
    from ingestion.images import IMAGE_SUFFIXES, image_to_array, open_image
    from training.predictor import Predictor
    from training.registry import spec_from_file

    files = sorted(p for p in Path(args.photos).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    files = files[:: max(1, len(files) // args.count)][: args.count]
    images = [open_image(p) for p in files]
    with tempfile.TemporaryDirectory() as tmp:
        spec_size = spec_from_file(args.model).input_size
        plain_path, maps_path = prepare_models(args.model, Path(tmp), np.stack([image_to_array(i, spec_size) for i in images[:16]]))
        print(f"{len(images)} photos from {args.photos}; model {args.model} ({spec_size} px)")
        print(f"{'backend':8} {'plain ms':>9} {'with maps ms':>13} {'overlay ms':>11} {'extra ms':>9}   (medians)")
        for backend in ("keras", "litert"):
            plain = Predictor(spec_from_file(plain_path), backend=backend)
            mapped = Predictor(spec_from_file(maps_path), backend=backend)
            assert mapped.has_class_maps and not plain.has_class_maps
            times = {"plain": [], "maps": [], "overlay": []}
            for round_ in range(2):  # the first round warms caches; only the second counts
                for image in images:
                    started = time.perf_counter()
                    plain.predict_images([image])
                    plain_ms = (time.perf_counter() - started) * 1000
                    started = time.perf_counter()
                    probabilities, _, _, maps = mapped.predict_images([image], with_maps=True)
                    maps_ms = (time.perf_counter() - started) * 1000
                    started = time.perf_counter()
                    heatmap_png(maps[0][..., int(probabilities[0].argmax())], image.size, display_size(image.size))
                    overlay_ms = (time.perf_counter() - started) * 1000
                    if round_:
                        times["plain"].append(plain_ms)
                        times["maps"].append(maps_ms)
                        times["overlay"].append(overlay_ms)
            median = {k: statistics.median(v) for k, v in times.items()}
            extra = median["maps"] - median["plain"] + median["overlay"]
            print(f"{backend:8} {median['plain']:9.1f} {median['maps']:13.1f} {median['overlay']:11.2f} {extra:9.2f}")


if __name__ == "__main__":
    main()
