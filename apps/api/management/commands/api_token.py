"""Print a researcher's API token, creating it if needed (``--renew`` replaces it)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

from apps.dashboard.services import api_token_renew


class Command(BaseCommand):
    help = "Print the API token of a user (created if missing); --renew makes a new one."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--renew", action="store_true", help="Replace the existing token.")

    def handle(self, *args, username: str, renew: bool, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        token = Token.objects.filter(user=user).first()
        if token is None or renew:
            token = api_token_renew(user=user)
        self.stdout.write(token.key)
