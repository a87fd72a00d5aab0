"""Which browser uploaded a photo: each upload stores the hash of its browser's token (Prediction.uploader).

Its uploader (and staff) may delete it, try it again and fetch its original file (views, classifier.media).
"""
import hashlib
import secrets
import time

# Session key: this browser's uploader token, made with its first upload. Each upload stores its hash
# (Prediction.uploader), so ownership never depends on writing the session per upload: the page's script sends several
# photos at once (after a first one alone, which starts the session), and parallel requests that each saved the
# session lost each other's writes (and on SQLite could fail the request after its photo was stored).
UPLOADER = "petsite_uploader"
# When the session's age was last renewed by an upload (epoch seconds): at most once a day, so ownership lasts the
# session's age from the last day of uploads while the parallel requests of a batch never write the session.
UPLOADER_RENEWED = "petsite_uploader_renewed"
RENEW_AFTER_SECONDS = 24 * 3600
# Before the token: the ids of the predictions a session uploaded (read only, for sessions from then).
OWN_UPLOADS = "petsite_own_uploads"


def ensure_uploader(request):
    """Give this browser its uploader token (with its first upload), and renew the session's age at most once a day."""
    if UPLOADER not in request.session:
        request.session[UPLOADER] = secrets.token_urlsafe(24)
    now = int(time.time())
    if now - request.session.get(UPLOADER_RENEWED, 0) > RENEW_AFTER_SECONDS:
        request.session[UPLOADER_RENEWED] = now  # a write: the session's age starts again


def uploader_of(request):
    """What identifies this browser's uploads: the hash of its token ("" before it has one)."""
    token = request.session.get(UPLOADER)
    return hashlib.sha256(token.encode()).hexdigest() if token else ""


def owns(request, prediction):
    """Whether this browser uploaded `prediction` (it may delete it, and fetch its original file)."""
    mine = uploader_of(request)
    return (bool(mine) and prediction.uploader == mine) or prediction.pk in request.session.get(OWN_UPLOADS, [])


def owner_or_staff(request, prediction):
    """Trying a failed photo again, and seeing its original file, are its uploader's (this browser) or staff's."""
    return owns(request, prediction) or request.user.is_staff
