"""Settings of the project processes the fault tests start (run_worker, daphne): the project's own,
plus the one value the tests point elsewhere that hotline.settings does not read from the environment."""

import os

from hotline.settings import *  # noqa: F403 - the project's settings, unchanged

# The local Twilio API of the test (services.telephony.http.RedirectingHttpClient sends REST calls there).
TWILIO_API_BASE_URL = os.environ.get("TRUST_TWILIO_API_BASE_URL") or None
TWILIO_HTTP_TIMEOUT = float(os.environ.get("TRUST_TWILIO_HTTP_TIMEOUT", "10"))
