"""With no broker configured the live site still classifies uploads, on its in-process worker thread."""
import pytest

import harness
from tests.conftest import color_image_bytes

pytestmark = pytest.mark.slow


def test_site_without_a_broker_classifies_uploads_itself(tmp_path, live_model_path):
    env = harness.site_env(tmp_path / "media", live_model_path, sqlite_path=tmp_path / "db.sqlite3", broker_url="")
    harness.migrate(env)
    with harness.LiveSite(env, log_path=tmp_path / "site.log") as site:
        status, body = harness.http_json(f"{site.url}/api/predictions/",
                                      files={"image": ("blue.jpg", color_image_bytes((20, 20, 230)), "image/jpeg")})
        assert status == 202, body
        result = harness.wait_for_prediction(site.url, body["id"], timeout=90)
        assert result["status"] == "done", result
        assert result["label"] == "fish"
    assert not site.alive
