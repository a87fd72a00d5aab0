"""Curating scraped photos: scored by the live model when stored, pending / accepted / rejected, likely-wrong first,
auto-accept by a job's confidence, only accepted photos in datasets, rejected photos never stored again."""
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image

from ingestion import selectors, services
from ingestion.hashing import perceptual_hash
from ingestion.models import ScrapedPhoto

from .conftest import FLICKR_STORED, serve_flickr

pytestmark = pytest.mark.django_db
SCORES = {}  # sha256 -> score, for the test scorer below


def fixed_scorer(data):
    """A stand-in scorer named in settings: says cat at 0.9 unless told otherwise."""
    from ingestion.hashing import sha256_hex

    return SCORES.get(sha256_hex(data), {"label": "cat", "confidence": 0.9, "pet_score": 0.95, "model_version": "test-model"})


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("curator", "c@example.com", "pw-for-tests")
    client.force_login(user)
    return user


def noise_png(seed, size=64):
    import numpy as np

    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype="uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue(), perceptual_hash(Image.fromarray(pixels))


def photo(seed, label="cat", predicted="cat", confidence=0.9, **fields):
    data, phash = noise_png(seed)
    record = ScrapedPhoto(url=f"https://example.com/{seed}.png", query=label, label=label, sha256=f"{seed:064x}", phash=phash,
                          predicted_label=predicted, predicted_confidence=confidence, **fields)
    record.file.save(f"{seed}.png", ContentFile(data), save=False)
    record.save()
    return record


def test_scraped_photos_are_scored_by_the_live_model_when_stored(site):
    """The real scorer (classifier.inference.score_photo, named in settings) with the tiny test model."""
    serve_flickr(site)
    job = services.run_scrape_job(services.create_scrape_job("flickr", "cat", "cat", 2, base_url=site.base_url).pk)
    photos = list(ScrapedPhoto.objects.all())
    assert job.downloaded_count == 2 and len(photos) == 2
    for stored in photos:
        assert stored.review_state == "pending" and not stored.auto_accepted
        assert stored.predicted_label in ("bird", "cat", "dog", "dragon", "fish", "hamster", "unknown")
        # the tiny live model has no pet-score output, so none is stored (pages then show shares among the pets)
        assert 0 <= stored.predicted_confidence <= 1 and stored.pet_score is None and stored.scored_with


def test_auto_accept_only_where_the_model_agrees_above_the_jobs_confidence(site, settings):
    settings.PETSITE_SCRAPED_PHOTO_SCORER = f"{__name__}.fixed_scorer"
    from ingestion.hashing import sha256_hex
    from .conftest import FLICKR_PHOTOS

    SCORES.clear()
    SCORES[sha256_hex(FLICKR_PHOTOS[FLICKR_STORED[1]]())] = {"label": "dog", "confidence": 0.99, "pet_score": 0.9, "model_version": "m"}
    SCORES[sha256_hex(FLICKR_PHOTOS[FLICKR_STORED[2]]())] = {"label": "cat", "confidence": 0.5, "pet_score": 0.9, "model_version": "m"}
    serve_flickr(site)
    job = services.create_scrape_job("flickr", "cat", "cat", 4, base_url=site.base_url, auto_accept_confidence=0.8)
    services.run_scrape_job(job.pk)
    states = {p.url: (p.review_state, p.auto_accepted) for p in ScrapedPhoto.objects.all()}
    assert states[site.url(FLICKR_STORED[0])] == ("accepted", True)  # agrees at 0.9
    assert states[site.url(FLICKR_STORED[1])] == ("pending", False)  # the model says dog
    assert states[site.url(FLICKR_STORED[2])] == ("pending", False)  # agrees below 0.8
    assert states[site.url(FLICKR_STORED[3])] == ("accepted", True)
    # Off by default: nothing accepted without a person.
    assert services.create_scrape_job("flickr", "cat", "cat", 1).auto_accept_confidence is None
    with pytest.raises(ValueError, match="between 0 and 1"):
        services.create_scrape_job("flickr", "cat", "cat", 1, auto_accept_confidence=1.5)


def test_likely_wrong_first():
    agree_sure = photo(1, predicted="cat", confidence=0.99)
    agree_unsure = photo(2, predicted="cat", confidence=0.55)
    other_class = photo(3, predicted="dog", confidence=0.7)
    not_a_pet = photo(4, predicted="unknown", confidence=0.95)
    unscored = photo(5, predicted="", confidence=None)
    # A dog photo that is a near duplicate of a cat photo: the same pixels, another class.
    twin = photo(6, label="dog", predicted="dog", confidence=0.99, review_state="accepted")
    near = photo(7, predicted="cat", confidence=0.98)
    ScrapedPhoto.objects.filter(pk=near.pk).update(phash=twin.phash)

    items = selectors.curation_queue()
    order = [item.photo.pk for item in items]
    assert order == [not_a_pet.pk, other_class.pk, near.pk, unscored.pk, agree_unsure.pk, agree_sure.pk]
    reasons = {item.photo.pk: item.reasons for item in items}
    assert reasons[not_a_pet.pk] == ["the model says not a pet"]
    assert reasons[other_class.pk] == ["the model says Dog"]
    assert reasons[near.pk] == ["near duplicate of a Dog photo (scraped)"]
    assert reasons[agree_sure.pk] == []


def test_accept_reject_undo_and_only_accepted_photos_enter_datasets(staff):
    keep, relabel, drop = photo(1), photo(2), photo(3)
    services.curate_photos(ScrapedPhoto.objects.filter(pk=keep.pk), "accept", staff)
    services.curate_photos(ScrapedPhoto.objects.filter(pk=relabel.pk), "accept", staff, label="hamster")
    before = services.curate_photos(ScrapedPhoto.objects.filter(pk=drop.pk), "reject", staff)
    drop.refresh_from_db()
    assert (drop.review_state, drop.reviewed_by) == ("rejected", staff)
    assert selectors.curation_counts() == {"pending": 0, "accepted": 2, "rejected": 1}
    examples = selectors.accepted_scraped_photos_for_dataset()
    assert sorted(label for _, label in examples) == ["cat", "hamster"]
    assert drop.file.path not in [path for path, _ in examples]

    services.undo_curation(before)
    drop.refresh_from_db()
    assert (drop.review_state, drop.reviewed_by) == ("pending", None)


def test_rejected_photos_are_not_stored_again_by_a_later_scrape(site, staff):
    serve_flickr(site)
    services.run_scrape_job(services.create_scrape_job("flickr", "cat", "cat", 3, base_url=site.base_url).pk)
    services.curate_photos(ScrapedPhoto.objects.all(), "reject", staff)
    rejected = set(ScrapedPhoto.objects.values_list("sha256", flat=True))

    again = services.run_scrape_job(services.create_scrape_job("flickr", "cat", "cat", 3, base_url=site.base_url).pk)
    new = ScrapedPhoto.objects.filter(job=again)
    assert again.skipped_count >= 3
    assert not rejected & set(new.values_list("sha256", flat=True))
    assert ScrapedPhoto.objects.filter(review_state="rejected").count() == 3


def test_curation_page_and_keyboard_endpoints(client, staff):
    wrong, right = photo(1, predicted="dog"), photo(2)
    page = client.get(reverse("ingestion_curation:curate")).content.decode()
    assert page.index(f'data-photo="{wrong.pk}"') < page.index(f'data-photo="{right.pk}"')
    assert "the model says Dog" in page and 'data-key="Enter"' in page

    json = {"HTTP_ACCEPT": "application/json"}
    answer = client.post(reverse("ingestion_curation:decide"), {"ids": [wrong.pk, right.pk], "decision": "dog"}, **json).json()
    assert answer["photos"][str(wrong.pk)] == {"state": "accepted", "label": "dog", "text": "Accepted as Dog"}
    assert answer["counts"] == {"pending": 0, "accepted": 2, "rejected": 0}
    undone = client.post(reverse("ingestion_curation:undo"), **json).json()
    assert sorted(undone["undone"]) == sorted([wrong.pk, right.pk]) and undone["counts"]["pending"] == 2
    # Without JavaScript: the bulk form posts and comes back.
    response = client.post(reverse("ingestion_curation:decide"), {"ids": [wrong.pk], "decision": "reject"})
    assert response.status_code == 302 and ScrapedPhoto.objects.get(pk=wrong.pk).review_state == "rejected"

    # The grid says what the live update says, whether accepted under the searched class or another.
    accepted = client.post(reverse("ingestion_curation:decide"), {"ids": [right.pk], "decision": "accept"}, **json).json()
    assert accepted["photos"][str(right.pk)]["text"] == "Accepted as Cat"
    client.post(reverse("ingestion_curation:decide"), {"ids": [wrong.pk], "decision": "dragon"}, **json)
    page = client.get(reverse("ingestion_curation:curate") + "?state=accepted").content.decode()
    assert '<div class="state">Accepted as Cat</div>' in page and '<div class="state">Accepted as Bearded dragon</div>' in page


def test_curation_is_staff_only(client):
    assert client.get(reverse("ingestion_curation:curate")).status_code == 302
    assert client.post(reverse("ingestion_curation:decide"), {"ids": [1], "decision": "accept"}).status_code == 302


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_enter_on_a_focused_button_does_that_buttons_action_in_chromium(live_server, client, monkeypatch):
    """Tab to Skip and press Enter: the outline moves on and nothing is accepted ("accept as searched" is Enter only
    when no control has focus); Enter on a tick box accepts nothing either; keys still work with no focus."""
    from playwright.sync_api import expect

    from tests.e2e.conftest import staff_page

    first, second = photo(1, predicted="dog"), photo(2, predicted="dog")
    user = get_user_model().objects.create_superuser("curator", "c@example.com", "pw-for-tests")

    with staff_page(live_server, client, user, monkeypatch) as page:
        page.goto(live_server.url + reverse("ingestion_curation:curate"))
        tiles = page.locator(".tile")
        expect(tiles.nth(0)).to_have_class("tile cursor")
        for _ in range(60):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.id") == "skip":
                break
        else:
            raise AssertionError("Tab never reached Skip")
        page.keyboard.press("Enter")  # skip: the outline moves to the second photo, nothing accepted
        expect(tiles.nth(1)).to_have_class("tile cursor")
        page.wait_for_timeout(300)
        expect(page.locator("#count-accepted")).to_have_text("0")
        expect(page.locator("#count-pending")).to_have_text("2")
        assert set(ScrapedPhoto.objects.values_list("review_state", flat=True)) == {"pending"}

        tiles.nth(0).locator(".pick").focus()
        page.keyboard.press("Enter")  # a tick box: no accept
        page.keyboard.press(" ")  # Space ticks it (its own action), once
        expect(tiles.nth(0).locator(".pick")).to_be_checked()
        page.wait_for_timeout(300)
        assert set(ScrapedPhoto.objects.values_list("review_state", flat=True)) == {"pending"}
        page.keyboard.press("0")  # a letter key with the tick box focused still works: the ticked photo is rejected
        expect(page.locator("#count-rejected")).to_have_text("1")
        assert ScrapedPhoto.objects.get(pk=first.pk).review_state == "rejected"

        page.evaluate("() => document.activeElement.blur()")
        page.keyboard.press("Enter")  # no control has focus: accept the outlined photo as searched
        expect(page.locator("#count-accepted")).to_have_text("1")
        assert ScrapedPhoto.objects.get(pk=second.pk).review_state == "accepted"
