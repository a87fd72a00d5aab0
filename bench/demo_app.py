"""The original demo's synchronous serving, rebuilt for the serving benchmark (bench/serving.py runs it with gunicorn
sync workers beside the site, on the same photos and clients).

Per request, as the original Flask demo did: save the upload, make an RGBA thumbnail of at most 240 px and save it as
PNG, read that PNG back with keras `load_img` at 240x240, divide by 255, `model.predict` on the seed CNN, answer JSON.
The model is the seed architecture (training.architectures.build_seed) with its initial weights: its answers are not
the point, its cost is. (The seed model here rescales by 1/255 itself as well; one more multiply per pixel.)

    DEMO_DIR=/tmp/demo gunicorn -k sync -w 2 bench.demo_app:app
"""
import json
import os
import sys
import uuid
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from werkzeug.wrappers import Request, Response  # noqa: E402

UPLOADS = Path(os.environ.get("DEMO_DIR", "/tmp/petsite-demo")) / "uploads"
UPLOADS.mkdir(parents=True, exist_ok=True)
SIZE = 240
_model = None


def model():
    global _model
    if _model is None:
        from training.architectures import build_seed

        _model = build_seed(input_size=SIZE)
    return _model


def classify(upload):
    import keras

    name = uuid.uuid4().hex
    path = UPLOADS / f"{name}{Path(upload.filename or 'x.jpg').suffix or '.jpg'}"
    upload.save(str(path))
    image = Image.open(path).convert("RGBA")
    image.thumbnail((SIZE, SIZE))
    thumb = UPLOADS / f"{name}_thumb.png"
    image.save(thumb, "PNG")
    array = keras.utils.img_to_array(keras.utils.load_img(thumb, target_size=(SIZE, SIZE))) / 255.0
    probabilities = model().predict(np.expand_dims(array, 0), verbose=0)[0]
    best = int(probabilities.argmax())
    return {"class": best, "confidence": float(probabilities[best]), "thumbnail": thumb.name}


@Request.application
def app(request):
    if request.method == "GET":
        model()  # readiness probe: loads the model
        return Response("ok")
    upload = request.files.get("image")
    if upload is None:
        return Response(json.dumps({"error": "no image"}), status=400, mimetype="application/json")
    return Response(json.dumps(classify(upload)), mimetype="application/json")
