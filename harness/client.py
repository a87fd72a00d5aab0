"""HTTP from the outside, as a client of a running site."""
import time


def http_json(url, data=None, files=None, timeout=30):
    """(status, parsed JSON or text) for GET or multipart POST, without raising on 4xx/5xx."""
    import requests

    if files is not None or data is not None:
        response = requests.post(url, data=data, files=files, timeout=timeout)
    else:
        response = requests.get(url, timeout=timeout)
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def wait_for_prediction(base_url, prediction_id, timeout=60, statuses=("done", "failed")):
    """Poll the API until the prediction leaves `pending`; returns its JSON."""
    deadline = time.monotonic() + timeout
    body = None
    while time.monotonic() < deadline:
        status, body = http_json(f"{base_url}/api/predictions/{prediction_id}/")
        if status == 200 and body.get("status") in statuses:
            return body
        time.sleep(0.25)
    raise AssertionError(f"prediction {prediction_id} still not finished after {timeout}s: {body}")
