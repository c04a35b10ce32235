"""Every WebSocket path of the project, gathered from the rooms."""

from services.websocket_urls import websocket_urlpatterns as services_ws

websocket_urlpatterns = [*services_ws]
