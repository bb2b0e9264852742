"""A plain Django app keeping its sessions in Redis the way its users do: cache-backed sessions
(`django.contrib.sessions.backends.cache`) on Django's own Redis cache backend, and
`django.contrib.auth`'s login and logout. The gateway's tests log in here directly, then send
the cookie through the gateway, which forwards to this same app.

Environment: PORT, REDIS_URL, SECRET_KEY, SESSION_COOKIE_AGE (seconds), DB (a SQLite file).
"""

import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY=os.environ["SECRET_KEY"],
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["DB"]}},
    CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["REDIS_URL"]}},
    SESSION_ENGINE="django.contrib.sessions.backends.cache",
    SESSION_COOKIE_AGE=int(os.environ.get("SESSION_COOKIE_AGE", "1209600")),
    USE_TZ=True,
)
django.setup()

from django.contrib.auth import login, logout  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


@csrf_exempt
def login_view(request):
    user, _ = User.objects.get_or_create(username=request.GET["user"])
    login(request, user)
    request.session["role"] = "member"
    return HttpResponse("logged in")


@csrf_exempt
def visit(request):
    request.session["visits"] = request.session.get("visits", 0) + 1
    return HttpResponse("visited")


@csrf_exempt
def logout_view(request):
    logout(request)
    return HttpResponse("logged out")


def whoami(request):
    headers = {k[5:].lower().replace("_", "-"): v for k, v in request.META.items() if k.startswith("HTTP_")}
    return JsonResponse(headers)


urlpatterns = [
    path("login", login_view),
    path("visit", visit),
    path("logout", logout_view),
    path("whoami", whoami),
]


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


if __name__ == "__main__":
    call_command("migrate", verbosity=0)
    from django.core.wsgi import get_wsgi_application

    server = make_server("127.0.0.1", int(os.environ["PORT"]), get_wsgi_application(), Server, QuietHandler)
    print("listening", flush=True)
    sys.stdout.flush()
    server.serve_forever()
