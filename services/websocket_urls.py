from django.urls import path

from services import consumers
from services.public import consumers as chat_consumers

websocket_urlpatterns = [
    path("ws/notifications/", consumers.NotificationConsumer.as_asgi()),
    path("ws/chat/<str:token>/", chat_consumers.CitizenChatConsumer.as_asgi()),
    path("ws/agent/chat/", chat_consumers.AgentChatConsumer.as_asgi()),
]
