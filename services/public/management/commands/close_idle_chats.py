"""End live chats nobody has written in for a while, so the agents' waiting list stays true."""

from datetime import timedelta

from django.core.management.base import BaseCommand

from services.public import chat


class Command(BaseCommand):
    help = "结束长时间无消息的在线咨询会话（会话记录写入工单）"

    def add_arguments(self, parser):
        parser.add_argument("--minutes", type=int, default=60, help="idle for at least this many minutes (default 60)")

    def handle(self, *args, minutes: int, **options):
        if minutes < 1:
            self.stderr.write("--minutes must be at least 1")
            raise SystemExit(2)
        ended = chat.close_idle(idle_for=timedelta(minutes=minutes))
        self.stdout.write(f"closed {ended} idle chat(s)")
