"""WebSocket consumers of the front desk."""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from routing import groups


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    """Live updates for a signed-in staff user: their queue, their department, their role."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.groups_joined = groups.for_user(user)
        for name in self.groups_joined:
            await self.channel_layer.group_add(name, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for name in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(name, self.channel_name)

    async def ticket_changed(self, event):
        if "frame" in event:  # encoded once by the sender for every page (routing.effects.deliver_group_push)
            await self.send(text_data=event["frame"])
        else:
            await self.send_json({"type": "ticket.changed", **event.get("data", {})})

    async def notify(self, event):
        await self.send_json({"type": event.get("event", "notify"), **event.get("data", {})})
