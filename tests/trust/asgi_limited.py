"""The project's ASGI application inside ``hotline.limits.BodySizeLimit``, as docs/SECURITY.md proposes for hotline/asgi.py."""

from hotline.asgi import application as project_application
from hotline.limits import BodySizeLimit

application = BodySizeLimit(project_application)
