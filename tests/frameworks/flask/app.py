"""A plain Flask app keeping its sessions in Redis the way its users do: Flask-Session's
Redis backend and Flask-Login. The gateway's tests log in here directly, then send the cookie
through the gateway, which forwards to this same app.

Environment: PORT, REDIS_URL, SECRET_KEY, SESSION_USE_SIGNER (1/0),
SESSION_SERIALIZATION_FORMAT (msgpack/json), LIFETIME_SECONDS.
"""

import os
from datetime import timedelta

import redis
from flask import Flask, jsonify, request, session
from flask_login import LoginManager, UserMixin, login_user, logout_user
from flask_session import Session
from werkzeug.serving import make_server

app = Flask(__name__)
app.config.update(
    SECRET_KEY=os.environ["SECRET_KEY"],
    SESSION_TYPE="redis",
    SESSION_REDIS=redis.from_url(os.environ["REDIS_URL"]),
    SESSION_USE_SIGNER=os.environ.get("SESSION_USE_SIGNER") == "1",
    SESSION_SERIALIZATION_FORMAT=os.environ.get("SESSION_SERIALIZATION_FORMAT", "msgpack"),
    PERMANENT_SESSION_LIFETIME=timedelta(seconds=int(os.environ.get("LIFETIME_SECONDS", "3600"))),
)
Session(app)
login_manager = LoginManager(app)


class User(UserMixin):
    def __init__(self, user_id):
        self.id = user_id


@login_manager.user_loader
def load_user(user_id):
    return User(user_id)


@app.post("/login")
def login():
    login_user(User(request.args["user"]))
    session["role"] = "member"
    return "logged in"


@app.post("/visit")
def visit():
    session["visits"] = session.get("visits", 0) + 1
    return "visited"


@app.post("/logout")
def logout():
    logout_user()
    session.clear()
    return "logged out"


@app.get("/whoami")
def whoami():
    return jsonify({k.lower(): v for k, v in request.headers.items()})


if __name__ == "__main__":
    server = make_server("127.0.0.1", int(os.environ["PORT"]), app, threaded=True)
    print("listening", flush=True)
    server.serve_forever()
